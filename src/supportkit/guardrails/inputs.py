"""Checks on the customer's question before anything reads it (every entry point: ``respond``,
``stream``, batches, ``ask``, ``chat``, the server, conversation tests).

* text is cleaned: invalid Unicode (lone surrogates, e.g. undecodable bytes from a terminal) becomes
  U+FFFD, control characters other than line breaks and tabs are removed, ``\\r\\n`` becomes ``\\n``,
  and the text is NFC-normalised (``é`` typed two ways is one word to retrieval);
* a question with nothing left to read (empty, whitespace, control or zero-width characters only)
  is refused with :class:`~supportkit.errors.RequestError`;
* a question longer than ``guardrails.max_query_chars`` is cut at a word boundary before that
  limit, and the cut is reported (``Response.input_truncated``) instead of passing silently.

    checked = check_query(raw, max_chars=4000)   # raises RequestError when empty
    checked.text, checked.truncated              # ("...", {"from_chars": 20000, "to_chars": 3996})
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from supportkit.errors import RequestError

_SURROGATE = re.compile("[\ud800-\udfff]")
#: C0 and C1 control characters except tab and line feed (carriage returns are turned into \n first).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Categories that carry no readable content on their own (controls, format, unassigned, private use).
_NO_CONTENT = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}


@dataclass(frozen=True)
class CheckedQuery:
    """A question ready for the pipeline."""

    text: str
    #: ``{"from_chars": n, "to_chars": m}`` when the question was cut, else ``None``.
    truncated: dict[str, int] | None = None
    #: Control characters and invalid code points removed or replaced.
    cleaned: int = 0
    #: The cleaned question before any cut (what the conversation store keeps).
    whole: str = ""


def clean_text(text: str) -> tuple[str, int]:
    """``text`` with invalid Unicode replaced, control characters removed and line ends unified
    (NFC-normalised); returns the text and how many characters were removed or replaced."""
    text, replaced = _SURROGATE.subn("\ufffd", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text, removed = _CONTROL.subn("", text)
    return unicodedata.normalize("NFC", text), replaced + removed


def has_content(text: str) -> bool:
    """Whether ``text`` has anything to read (a letter, digit, symbol, emoji or punctuation)."""
    return any(ch != "\ufffd" and unicodedata.category(ch) not in _NO_CONTENT for ch in text)


def check_query(query: Any, *, max_chars: int | None) -> CheckedQuery:
    """The cleaned question, cut to ``max_chars`` (``None``: no limit).

    Raises: RequestError when ``query`` is not text or has nothing to read."""
    if not isinstance(query, str):
        raise RequestError(f"the question must be text, got {type(query).__name__}")
    text, cleaned = clean_text(query)
    text = text.strip()
    if not has_content(text):
        raise RequestError(
            "the query is empty (nothing but spaces or control characters): send the customer's question"
        )
    if max_chars is None or len(text) <= max_chars:
        return CheckedQuery(text, None, cleaned, text)
    head = text[:max_chars]
    # a word boundary within the last tenth, so the model never reads half a word
    boundary = head.rfind(" ", max_chars - max_chars // 10)
    cut = (head[:boundary] if boundary > 0 else head).rstrip()
    return CheckedQuery(cut, {"from_chars": len(text), "to_chars": len(cut)}, cleaned, text)


#: Emoji and other pictographs, their skin tones, joiners, variation selectors and keycaps.
_PICTOGRAPH = {"So", "Sk"}
_PICTOGRAPH_MARKS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}


def searchable(text: str) -> str:
    """``text`` as retrieval, intent detection and example matching embed it: emoji and other
    pictographs removed (MiniLM reads them as unknown tokens, which lowered a question's best
    passage by 0.02-0.05 and turned "My package never arrived 📦📦" into a ``no_match``).
    ``text`` itself when nothing else is left."""
    kept = "".join(
        " " if unicodedata.category(ch) in _PICTOGRAPH or ch in _PICTOGRAPH_MARKS else ch for ch in text
    )
    kept = re.sub(r"[ \t]{2,}", " ", kept).strip()
    return kept if has_content(kept) else text


def truncation_notice(truncated: dict[str, int] | None) -> str | None:
    """One line telling a person the question was cut (``None`` when it was not)."""
    if not truncated:
        return None
    return (
        f"note: the question was cut from {truncated['from_chars']:,} to {truncated['to_chars']:,} "
        "characters (guardrails.max_query_chars); only the first part was answered"
    )


def preview(text: str, chars: int = 200) -> str:
    """``text`` shortened for echoing back to a person (never the whole of a pasted document)."""
    if len(text) <= chars:
        return text
    return f"{text[:chars].rstrip()}… ({len(text):,} characters)"
