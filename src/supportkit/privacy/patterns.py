"""Finding values that are secret whatever they are called: card numbers, IBANs, keys and tokens.

Candidates are found with loose patterns and then *validated*: card numbers by the Luhn
checksum and a real issuer prefix (``stdnum.luhn``), IBANs by their country length and mod-97
check (``stdnum.iban``), tokens by their shape (JWT, well-known key prefixes, ``Bearer ...``,
``password: ...``) or by being long, mixed and high-entropy. Every finder returns
``(start, end)`` character offsets into the text it was given.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.exceptions import ValidationError

Span = tuple[int, int]

# A run of digit groups (single spaces or dashes between them), not inside a word.
_DIGIT_RUN = re.compile(r"(?<![\w-])\d+(?:[ -]\d+)*(?![\w-])")
# Two letters, two check digits, then 11-30 letters/digits in optional groups of up to 4.
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{1,4}){3,8}\b")
_JWT = re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]{5,}")
# Well-known key prefixes (OpenAI/Stripe sk-/sk_live_/pk_live_/rk_, GitHub, Slack, AWS, Google).
_PREFIXED = re.compile(
    r"\b(?:sk|pk|rk)[-_](?:live_|test_|proj-|ant-)?[A-Za-z0-9_-]{12,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}|\bAKIA[0-9A-Z]{16}\b|\bAIza[0-9A-Za-z_-]{35}"
)
# The credential has a digit: "Basic authentication" and "token validation" are prose.
_AUTH_HEADER = re.compile(
    r"\b(?:Bearer|Basic|Token)\s+(?=[A-Za-z._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE
)
# "password: hunter2", "PIN is 1234", "api_key=abc": the value after a secret-sounding label.
_LABELLED = re.compile(
    r"\b(?:pass(?:word|wd|code|phrase)?|pwd|pin(?:[ _-]?code)?|api[ _-]?key|secret|access[ _-]?token"
    r"|auth[ _-]?token|token|otp|one[ -]time[ -](?:code|password)|verification[ _-]?code|cvv|cvc"
    r"|security[ _-]?(?:code|answer))"
    r"\s*(?P<sep>is\s*:?|:|=)\s*[\"']?(?P<value>(?!\[)[^\s\"',;]{3,})",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"(?<![\w/+=-])[A-Za-z0-9_+/=-]{24,}(?![\w/+=-])")
#: A UUID, optionally behind a word prefix (``chatcmpl-<uuid>``, ``req_<uuid>``): an identifier that
#: logs and stored records need to keep, not a secret.
_UUID = re.compile(r"^(?:[A-Za-z]+[-_])?[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
#: Issuer prefixes of payment cards (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro).
_CARD_PREFIX = re.compile(r"^(?:4|5[0-8]|2[2-7]|3[0-8]|6)")


def is_card_number(value: str) -> bool:
    """True for 13-19 digits (spaces/dashes allowed) with a card issuer prefix and a valid Luhn check."""
    digits = re.sub(r"[ -]", "", value.strip())
    return (
        digits.isdigit()
        and 13 <= len(digits) <= 19
        and bool(_CARD_PREFIX.match(digits))
        and bool(_luhn.is_valid(digits))
    )


def is_iban(value: str) -> bool:
    """True for an IBAN (any spacing or case): known country, its length, mod-97 check digits."""
    compact = re.sub(r"\s", "", value).upper()
    if not 15 <= len(compact) <= 34:
        return False
    try:  # the country's own BBAN checks are skipped: a mistyped account number is still one
        _iban.validate(compact, check_country=False)
    except ValidationError:
        return False
    return True


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values()) if value else 0.0


def looks_like_token(value: str) -> bool:
    """A key or token by shape: JWT, a known key prefix, an auth header, a hex string of >= 32, or
    a long (>= 24) string without spaces that mixes lower case, upper case and digits (or is
    digit-rich) with high entropy (>= 3.5 bits/char). UUIDs and word-made identifiers are not."""
    value = value.strip()
    if _JWT.fullmatch(value) or _PREFIXED.fullmatch(value) or _AUTH_HEADER.fullmatch(value):
        return True
    return _high_entropy(value)


def _high_entropy(value: str) -> bool:
    if len(value) < 24 or _UUID.match(value) or not _TOKEN.fullmatch(value):
        return False
    if len(value) >= 32 and re.fullmatch(r"[0-9a-fA-F]+", value):
        return True  # hex digests and keys
    lower = sum(c.islower() for c in value)
    upper = sum(c.isupper() for c in value)
    digits = sum(c.isdigit() for c in value)
    letters = [c.lower() for c in value if c.isalpha()]
    vowels = sum(c in "aeiou" for c in letters) / len(letters) if letters else 0.0
    # Random keys mix all three classes (base62/64), or have digits and letters with few vowels
    # (random letters: ~19 % vowels, words ~40 %): "customer_support_team_2024" is neither.
    mixed = (lower and upper and digits) or (digits >= 0.1 * len(value) and letters and vowels < 0.3)
    return bool(mixed) and entropy(value) >= 3.5


def is_secret_value(value: str) -> bool:
    """A card number, an IBAN or a key/token: withheld whatever its field is called."""
    return is_card_number(value) or is_iban(value) or looks_like_token(value)


def _card_groups(sizes: list[int]) -> bool:
    """Digit groups as cards print them: one run of 13-19, or 4 first then groups of 3-6
    (``4-4-4-4``, Amex ``4-6-5``), 13-19 digits in all; not ``112-4567890-1234567`` (an order)."""
    if not 13 <= sum(sizes) <= 19:
        return False
    return len(sizes) == 1 or (
        sizes[0] == 4 and all(3 <= n <= 6 for n in sizes[1:-1]) and 1 <= sizes[-1] <= 6
    )


def card_spans(text: str) -> list[Span]:
    """Card numbers: whole digit groups of a run (``4111 1111 1111 1111``, also when more groups
    follow or precede it), the longest valid stretch first."""
    spans = []
    for run in _DIGIT_RUN.finditer(text):
        groups = [(run.start() + g.start(), run.start() + g.end()) for g in re.finditer(r"\d+", run.group())]
        taken: list[Span] = []
        ranges = sorted(
            ((i, j) for i in range(len(groups)) for j in range(i + 1, min(len(groups), i + 19) + 1)),
            key=lambda r: r[0] - r[1],
        )
        for i, j in ranges:
            start, end = groups[i][0], groups[j - 1][1]
            if any(start < e and end > b for b, e in taken):
                continue
            if _card_groups([e - b for b, e in groups[i:j]]) and is_card_number(text[start:end]):
                taken.append((start, end))
        spans += taken
    return spans


def iban_spans(text: str) -> list[Span]:
    """Valid IBANs; a candidate that ran into following words is shortened group by group, and the
    search goes on right after what it kept (the words it ran into may start the next IBAN)."""
    spans: list[Span] = []
    pos = 0
    while match := _IBAN.search(text, pos):
        groups = list(re.finditer(r"\S+", match.group()))
        pos = match.start() + len(groups[0].group())  # no valid IBAN here: try from the next word
        for n in range(len(groups), 0, -1):
            end = groups[n - 1].end()
            if is_iban(match.group()[:end]):
                spans.append((match.start(), match.start() + end))
                pos = match.start() + end
                break
    return spans


def _labelled_value(match: re.Match[str]) -> Span | None:
    """The value after "password is/:/=", trailing punctuation left out; after "is" or ":" it must
    hold a digit or a symbol other than a hyphen ("hunter2", "p@ss"), so "your password is
    case-sensitive" is prose."""
    start = match.start("value")
    value = match.group("value").rstrip(".!?:)")
    if len(value) < 3:
        return None
    if match.group("sep") != "=" and not re.search(r"[\d@#$%^&*!?_+=/\\~<>|]", value):
        return None
    return start, start + len(value)


def secret_spans(text: str, *, generic: bool = True) -> list[Span]:
    """Keys, tokens, auth headers and labelled secrets ("password: x": only the value) in free text;
    with ``generic``, also any long high-entropy string (:func:`generic_token_spans`)."""
    spans = [m.span() for p in (_JWT, _PREFIXED, _AUTH_HEADER) for m in p.finditer(text)]
    spans += [span for m in _LABELLED.finditer(text) if (span := _labelled_value(m))]
    return spans + generic_token_spans(text) if generic else spans


def generic_token_spans(text: str) -> list[Span]:
    """Long high-entropy strings that no known key format names (they look like generated keys)."""
    return [m.span() for m in _TOKEN.finditer(text) if _high_entropy(m.group())]
