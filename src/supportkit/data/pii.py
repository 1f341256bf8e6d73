"""Redaction of personal data: email addresses, phone numbers, payment card numbers (Luhn-checked)."""

from __future__ import annotations

import re

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
PHONE = re.compile(
    r"(?<![\w-])(?:\+?\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}(?![\w-])"
)


def luhn_valid(digits: str) -> bool:
    total, double = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if double:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        double = not double
    return total % 10 == 0


def redact(text: str, *, email: str = "[EMAIL]", phone: str = "[PHONE]", card: str = "[CARD]") -> str:
    """Replace emails, Luhn-valid card numbers and phone numbers (in that order)."""
    text = EMAIL.sub(email, text)
    out, pos = [], 0
    # Long digit runs are card numbers when Luhn-valid, and left alone otherwise (order or
    # account numbers); phone numbers are looked for only between them.
    for match in CARD.finditer(text):
        out.append(PHONE.sub(phone, text[pos : match.start()]))
        digits = re.sub(r"\D", "", match.group())
        out.append(card if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group())
        pos = match.end()
    out.append(PHONE.sub(phone, text[pos:]))
    return "".join(out)
