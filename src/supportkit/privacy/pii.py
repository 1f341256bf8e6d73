"""Redaction of personal data in free text, validated by real numbering plans and check digits.

Kinds and placeholders (:data:`PLACEHOLDERS`):

* ``EMAIL`` -> ``[EMAIL]``: addresses (the one kind found by a pattern alone);
* ``PHONE`` -> ``[PHONE]``: numbers that ``phonenumbers`` (Google's libphonenumber) finds and
  validates against the numbering plan of one of ``regions`` (international ``+CC`` numbers in
  any country; national formats in the given regions);
* ``IBAN`` -> ``[IBAN]``: country length and mod-97 check (``stdnum.iban``);
* ``CARD`` -> ``[CARD]``: 13-19 digits with an issuer prefix and a valid Luhn check;
* ``ID`` -> ``[ID]``: national identifiers validated by ``python-stdnum`` (US SSN, UK NINO and
  NHS, DE tax ID, FR NIR, IN Aadhaar and PAN, BR CPF, ES DNI, IT codice fiscale, CA SIN), and any
  token after "passport / tax id / national id / driver's licence (number)"; formats with a weak
  check (9-12 bare digits) count only with their name nearby (``aadhaar``, ``nhs``, ``sin`` ...);
* ``SECRET`` -> ``[SECRET]``: keys and tokens in text (see :mod:`supportkit.privacy.patterns`).

Order numbers, invoice numbers, dates, amounts, tracking numbers, IP addresses, versions and
times are left alone (``data/eval/pii.jsonl`` holds look-alikes; ``benchmarks/bench_pii.py``
measures it). Redaction is idempotent and never keeps the characters of what it replaced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import phonenumbers
from stdnum.br import cpf
from stdnum.ca import sin
from stdnum.de import idnr
from stdnum.es import dni
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.in_ import aadhaar, pan
from stdnum.it import codicefiscale
from stdnum.us import ssn

from supportkit.config import GuardrailsConfig
from supportkit.privacy.patterns import card_spans, generic_token_spans, iban_spans, secret_spans

#: Regions whose national phone formats are recognised by default (``+CC`` numbers always are).
DEFAULT_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "IN", "BR")

PLACEHOLDERS = {
    "EMAIL": "[EMAIL]",
    "SECRET": "[SECRET]",
    "IBAN": "[IBAN]",
    "CARD": "[CARD]",
    "ID": "[ID]",
    "PHONE": "[PHONE]",
}
#: Every kind, in the order overlapping finds are settled (earlier wins).
KINDS = tuple(PLACEHOLDERS)
#: The kinds that are secrets rather than contact data: never in a prompt or the store, whatever
#: ``data.redact_pii`` says (emails and phone numbers are kept for the agents unless it is set).
SECRET_KINDS = ("SECRET", "IBAN", "CARD", "ID")

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")


@dataclass(frozen=True)
class PIISpan:
    """One find: its kind (:data:`KINDS`) and ``[start, end)`` character offsets."""

    kind: str
    start: int
    end: int


# (pattern, validator of the compact value or None, words one of which must appear within 40
# characters before it, or None)
_IdRule = tuple[re.Pattern[str], Callable[[str], bool] | None, re.Pattern[str] | None]


def _ctx(words: str) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{words})\b", re.IGNORECASE)


_ID_RULES: tuple[_IdRule, ...] = (
    (re.compile(r"\b\d{3}([- ])\d{2}\1\d{4}\b"), ssn.is_valid, None),
    (re.compile(r"\b\d{9}\b"), ssn.is_valid, _ctx(r"ssn|social security(?: number)?")),
    (
        re.compile(
            r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
        ),
        None,
        None,
    ),
    (re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b"), nhs.is_valid, _ctx(r"nhs")),
    (
        re.compile(r"\b\d{2} ?\d{3} ?\d{3} ?\d{3}\b"),
        idnr.is_valid,
        _ctx(r"steuer-?id|idnr|steuer.{0,30}|tax id"),
    ),
    (re.compile(r"\b[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b"), nir.is_valid, None),
    (re.compile(r"\b[2-9]\d{3}[ -]?\d{4}[ -]?\d{4}\b"), aadhaar.is_valid, _ctx(r"aadhaa?r|uid(?:ai)?")),
    (re.compile(r"\b[A-Z]{3}[ABCFGHJLPT][A-Z]\d{4}[A-Z]\b"), pan.is_valid, None),
    (re.compile(r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b"), cpf.is_valid, None),
    (re.compile(r"\b\d{11}\b"), cpf.is_valid, _ctx(r"cpf")),
    (re.compile(r"\b\d{8}-?[A-Z]\b"), dni.is_valid, None),
    (re.compile(r"\b[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]\b"), codicefiscale.is_valid, None),
    (re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{3}\b"), sin.is_valid, _ctx(r"sin|social insurance(?: number)?")),
)
# The value after a document's name: "passport number: X1234567", "tax ID 12-3456789".
_NAMED_ID = re.compile(
    r"\b(?:passport|national id|id card|tax id|tin|driver'?s? licen[cs]e|driving licen[cs]e|licen[cs]e)"
    r"(?:\s+(?:number|no\.?|#))?\s*(?:is\s*:?|:|#)?\s*(?P<value>(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{4,17}[A-Z0-9])\b",
    re.IGNORECASE,
)


def _compact(text: str) -> str:
    return re.sub(r"[\s.-]", "", text)


def _id_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for pattern, valid, context in _ID_RULES:
        for m in pattern.finditer(text):
            if context is not None and not context.search(text[max(0, m.start() - 40) : m.start()]):
                continue
            if valid is None or valid(_compact(m.group())):
                spans.append(m.span())
    spans += [m.span("value") for m in _NAMED_ID.finditer(text)]
    return spans


# A number right after one of these labels ("order", "tracking number is", "Ref #:") is an
# order/tracking/reference number, not a phone, nor a card when written as one run of digits.
_REFERENCE_LABEL = re.compile(
    r"\b(?:order|invoice|inv|tracking|track|ref|reference|sku|case|ticket|po|dhl|ups|fedex|usps|parcel"
    r"|shipment|awb|isbn|serial|model|part|item|receipt|transaction|confirmation)"
    r"\s*(?:no\.?|number|nr\.?|#|id|code)?\s*(?:is|was)?\s*[:#]?\s*$",
    re.IGNORECASE,
)


def _labelled_reference(text: str, start: int) -> bool:
    return bool(_REFERENCE_LABEL.search(text[max(0, start - 40) : start]))


def _card_spans(text: str) -> list[tuple[int, int]]:
    """Card numbers, except one unbroken run of digits labelled as an order, tracking or reference
    number: 13-19 digit references pass the issuer and Luhn checks 4-8 % of the time, and redacting
    them loses the number the customer asks about. A grouped number ("4111 1111 1111 1111") is
    written as a card is, and stays a card whatever precedes it."""
    return [
        (start, end)
        for start, end in card_spans(text)
        if not (text[start:end].isdigit() and _labelled_reference(text, start))
    ]


def _phone_spans(text: str, regions: Sequence[str]) -> list[tuple[int, int]]:
    spans = set()
    for region in regions or (None,):
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            spans.add((m.start, m.end))
    # International numbers (+CC) in any country; a fictional but well-formed one still counts.
    for m in phonenumbers.PhoneNumberMatcher(text, None, leniency=phonenumbers.Leniency.POSSIBLE):
        if m.raw_string.startswith("+") and len(str(m.number.national_number)) >= 7:
            spans.add((m.start, m.end))
    # Not the tail of a code such as INV-2024-000123, nor a number labelled as something else.
    return sorted(
        (start, end)
        for start, end in spans
        if not (
            start
            and (text[start - 1].isalnum() or (text[start - 1] in "-/" and text[:start][-2:-1].isalnum()))
        )
        and not _labelled_reference(text, start)
    )


def _secret_spans(text: str) -> list[tuple[int, int]]:
    """Secrets, except a generic high-entropy string labelled as an order or reference id ("order
    9f86d081884c7d659a2feaa0c55ad015"): a known key format or a labelled secret always counts."""
    return secret_spans(text, generic=False) + [
        (start, end) for start, end in generic_token_spans(text) if not _labelled_reference(text, start)
    ]


def find_pii(
    text: str, *, regions: Sequence[str] = DEFAULT_REGIONS, kinds: Iterable[str] = KINDS
) -> list[PIISpan]:
    """Every non-overlapping find in ``text``, in text order (an overlap goes to the kind listed
    first in :data:`KINDS`, then to the longer span, and the span grows to cover both: "password
    is 4111 1111 1111 1111" is one SECRET to its last digit, not a SECRET and twelve digits)."""
    wanted = set(kinds)
    if unknown := wanted - set(KINDS):
        raise ValueError(f"unknown PII kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    finders: dict[str, Callable[[], list[tuple[int, int]]]] = {
        "EMAIL": lambda: [m.span() for m in EMAIL.finditer(text)],
        "SECRET": lambda: _secret_spans(text),
        "IBAN": lambda: iban_spans(text),
        "CARD": lambda: _card_spans(text),
        "ID": lambda: _id_spans(text),
        "PHONE": lambda: _phone_spans(text, regions),
    }
    candidates = [
        (rank, -(end - start), start, end, kind)
        for rank, kind in enumerate(KINDS)
        if kind in wanted
        for start, end in finders[kind]()
    ]
    taken: list[PIISpan] = []
    for _, _, start, end, kind in sorted(candidates):
        overlapping = [t for t in taken if not (end <= t.start or start >= t.end)]
        if overlapping:
            kind = overlapping[0].kind
            start, end = min(start, *(t.start for t in overlapping)), max(end, *(t.end for t in overlapping))
            taken = [t for t in taken if t not in overlapping]
        taken.append(PIISpan(kind, start, end))
    return sorted(taken, key=lambda s: s.start)


def redact_counted(
    text: str, *, regions: Sequence[str] = DEFAULT_REGIONS, kinds: Iterable[str] = KINDS
) -> tuple[str, int]:
    """``text`` with every find replaced by its placeholder, and how many were replaced.

    Repeated until nothing more is found (a replaced card number can leave a phone number
    standing on its own), so redacting again changes nothing."""
    total = 0
    for _ in range(5):
        spans = find_pii(text, regions=regions, kinds=kinds)
        if not spans:
            break
        out, pos = [], 0
        for span in spans:
            out += [text[pos : span.start], PLACEHOLDERS[span.kind]]
            pos = span.end
        text, total = "".join([*out, text[pos:]]), total + len(spans)
    return text, total


def redact(text: str, *, regions: Sequence[str] = DEFAULT_REGIONS, kinds: Iterable[str] = KINDS) -> str:
    """Replace emails, phone numbers, IBANs, card numbers, national IDs and secrets in ``text``."""
    return redact_counted(text, regions=regions, kinds=kinds)[0]


def redact_secrets(text: str) -> str:
    """``text`` with keys, tokens, passwords, IBANs, card numbers and national IDs replaced
    (:data:`SECRET_KINDS`): what a customer types reaches the prompt and the store only so."""
    return redact(text, kinds=SECRET_KINDS)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum (payment cards, Canadian SIN) of a digit string."""
    from stdnum import luhn

    return bool(luhn.is_valid(digits))


@dataclass(frozen=True)
class Redactor:
    """A configured :func:`redact` (a plain ``str -> str`` callable for the store, logs, readers).

    ``regions``: phone numbering plans for national formats (ISO 3166 codes, e.g. ``["US", "GB"]``).
    """

    regions: tuple[str, ...] = DEFAULT_REGIONS
    kinds: tuple[str, ...] = KINDS

    def __call__(self, text: str) -> str:
        return redact(text, regions=self.regions, kinds=self.kinds)

    @classmethod
    def from_settings(cls, guardrails: GuardrailsConfig) -> Redactor:
        """The redactor ``guardrails.pii_regions`` asks for."""
        return cls(tuple(guardrails.pii_regions or DEFAULT_REGIONS))

    def counted(self, text: str) -> tuple[str, int]:
        return redact_counted(text, regions=self.regions, kinds=self.kinds)


__all__ = [
    "DEFAULT_REGIONS",
    "KINDS",
    "PLACEHOLDERS",
    "SECRET_KINDS",
    "PIISpan",
    "Redactor",
    "find_pii",
    "redact",
    "redact_counted",
    "redact_secrets",
]
