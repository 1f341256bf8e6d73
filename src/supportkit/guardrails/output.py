"""Output guardrails: template slots, PII redaction, system-prompt leak check, length and stops.

Each function is pure (text in, text out plus what it changed), so they are tested one by one and
applied in a fixed order by :func:`guard_text`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supportkit.privacy.pii import DEFAULT_REGIONS, redact_counted
from supportkit.privacy.secrets import SecretsPolicy

SLOT = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_STRAY_BRACES = re.compile(r"\{\{|\}\}")
_PERSONAL = {
    "order",
    "account",
    "invoice",
    "refund",
    "tracking",
    "name",
    "email",
    "address",
    "delivery",
    "purchase",
    "item",
    "product",
    "card",
    "payment",
    "subscription",
    "profile",
    "password",
    "amount",
    "date",
    "username",
    "membership",
    "plan",
}
_COMPANY = {
    "company",
    "support",
    "website",
    "url",
    "portal",
    "phone",
    "hours",
    "store",
    "app",
    "site",
    "office",
    "team",
    "policy",
    "page",
    "section",
    "department",
}
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def unit_ends(text: str) -> list[int]:
    """Offsets just after each complete sentence (``.``, ``!`` or ``?`` before whitespace or the
    end) and each line break in ``text``, ascending. A list number (``3.`` starting a line) ends
    nothing: a list item cut after its number is unfinished."""
    ends = []
    for m in _SENTENCE_END.finditer(text):
        line = text[text.rfind("\n", 0, m.start()) + 1 : m.start()].strip()
        if m.group() == "." and (line.isdigit() or (len(line) == 1 and line.isalpha())):
            continue  # "3." or "b." opening a list item
        ends.append(m.end())
    ends += [m.end() for m in re.finditer("\n", text)]
    return sorted(set(ends))


def slot_key(name: str) -> str:
    """``{{Order Number}}``, ``order_number`` and ``orderNumber`` all become ``ordernumber``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def rephrase_slot(name: str) -> str:
    """A readable phrase for an unknown slot: ``Order Number`` -> ``your order number``."""
    words = [
        w for w in re.findall(r"[A-Za-z0-9]+", name.lower()) if w not in ("info", "details", "information")
    ]
    if not words:
        return ""
    phrase = " ".join(words)
    if any(w in _PERSONAL for w in words) and not any(w in ("company", "support", "website") for w in words):
        return f"your {phrase}"
    if any(w in _COMPANY for w in words):
        return f"our {phrase}"
    return f"the {phrase}"


def fill_slots(
    text: str, values: Mapping[str, Any], secrets: SecretsPolicy | None = None
) -> tuple[str, int, int]:
    """Fill ``{{Slot}}`` placeholders from ``values`` (keys compared by :func:`slot_key`); unknown
    slots are rephrased. Returns the text, how many were filled and how many rephrased.

    A slot is never filled from a field the secrets policy withholds (``secrets``, the default
    deny list when ``None``): not when the slot's or the field's name is secret (``{{PIN}}``,
    ``{{Security Answer}}``), nor when the value looks like a card number, IBAN or key; such a
    slot is rephrased ("your password") instead."""
    policy = secrets or SecretsPolicy()
    known = {
        slot_key(str(k)): str(v)
        for k, v in values.items()
        if v not in (None, "") and not isinstance(v, dict | list) and not policy.is_secret(k, v)
    }
    filled = rephrased = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal filled, rephrased
        secret_slot = policy.is_secret_name(match.group(1))
        value = None if secret_slot else known.get(slot_key(match.group(1)))
        if value is not None:
            filled += 1
            return value
        rephrased += 1
        phrase = rephrase_slot(match.group(1))
        before = text[: match.start()].rstrip().lower()
        if before.endswith((" the", " your", " our", " a", " an")) or before in ("the", "your", "our"):
            phrase = phrase.split(" ", 1)[1] if " " in phrase else phrase
        return phrase

    out = SLOT.sub(replace, text)
    out = _STRAY_BRACES.sub("", out)
    return re.sub(r"[ \t]{2,}", " ", out), filled, rephrased


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def leaked_words(text: str, secrets: Iterable[str]) -> int:
    """The longest run of consecutive words ``text`` shares with any of ``secrets``."""
    words = _words(text)
    longest = 0
    for secret in secrets:
        other = _words(secret)
        if words and other:
            match = difflib.SequenceMatcher(None, words, other, autojunk=False).find_longest_match()
            longest = max(longest, match.size)
    return longest


def enforce_length(text: str, max_chars: int | None, stop_sequences: Iterable[str] = ()) -> tuple[str, bool]:
    """Cut at the first stop sequence, then at the last sentence end within ``max_chars``."""
    cut = False
    for stop in stop_sequences:
        if stop and stop in text:
            text, cut = text[: text.index(stop)].rstrip(), True
    if max_chars is not None and len(text) > max_chars:
        head = text[:max_chars]
        ends = [e for e in unit_ends(head) if head[:e].strip()]
        text = head[: ends[-1]].rstrip() if ends else head.rsplit(" ", 1)[0].rstrip() + "…"
        cut = True
    return text.strip(), cut


def drop_unfinished_sentence(text: str) -> tuple[str, bool]:
    """An answer cut off by ``max_new_tokens`` loses its unfinished last sentence (when at least
    one sentence is complete): a customer should never read "... within 30 days after receiving
    it (". Returns the text and whether anything was dropped."""
    ends = [e for e in unit_ends(text) if text[:e].strip()]
    if not ends or not text[ends[-1] :].strip():
        return text, False
    return text[: ends[-1]].strip(), True


def mark_unfinished(text: str) -> str:
    """An answer cut by ``max_new_tokens`` before its first sentence ended: it ends at its last
    whole word with "…" (the last word may be cut), never on a half word such as "orig"."""
    body = text.rstrip()
    if not body or (unit_ends(body) and body.endswith((".", "!", "?"))):
        return body
    head = body.rsplit(None, 1)[0] if len(body.split()) > 1 else body
    return head.rstrip(" ,;:-(") + "…"


@dataclass
class GuardedText:
    text: str
    #: What changed: slots_filled, slots_rephrased, redacted, leak_replaced, truncated.
    changes: dict[str, int] = field(default_factory=dict)


def guard_text(
    text: str,
    *,
    slot_values: Mapping[str, Any],
    redact_pii: bool,
    system_texts: Iterable[str],
    leak_min_words: int,
    leak_message: str,
    max_chars: int | None,
    stop_sequences: Iterable[str],
    secrets: SecretsPolicy | None = None,
    regions: Sequence[str] = DEFAULT_REGIONS,
) -> GuardedText:
    """Length and stops, the leak check, slots (never from withheld fields, see :func:`fill_slots`),
    then (with ``redact_pii``) PII and secrets redaction, phone numbers by ``regions``' plans."""
    changes: dict[str, int] = {}
    text, truncated = enforce_length(text, max_chars, stop_sequences)
    if truncated:
        changes["truncated"] = 1
    if leaked_words(text, system_texts) >= leak_min_words:
        return GuardedText(leak_message, {**changes, "leak_replaced": 1})
    text, filled, rephrased = fill_slots(text, slot_values, secrets)
    if filled:
        changes["slots_filled"] = filled
    if rephrased:
        changes["slots_rephrased"] = rephrased
    if redact_pii:
        text, count = redact_counted(text, regions=regions)
        if count:
            changes["redacted"] = count
    return GuardedText(text, changes)
