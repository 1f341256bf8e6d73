"""Reading and writing the text files users bring: BOMs, encodings, line breaks, JSONL lines.

One home for the rules every text reader follows:

* A byte-order mark is never content: a UTF-8 BOM (Excel's "CSV UTF-8") is stripped, and a UTF-16
  BOM (Excel's "Unicode Text") selects UTF-16.
* Invalid UTF-8 is never silently replaced: :func:`decode` keeps each bad byte as a lone surrogate
  (``surrogateescape``) so that every bad line can be found and reported (:func:`bad_lines`), not
  only the first one.
* Lines are physical lines: ``\\n``, ``\\r\\n`` or ``\\r`` end a line; U+2028, U+2029, U+0085 and the
  other characters that :meth:`str.splitlines` also splits on are text (:func:`physical_lines`).
* What is written is read back unchanged: :func:`jsonl_line` escapes the characters other JSONL
  readers split lines on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from supportkit.errors import DataError

BOM = "\ufeff"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: A byte that was not valid UTF-8, as decoded with ``surrogateescape`` (or an unpaired surrogate).
_INVALID = re.compile("[\ud800-\udfff]")
_LINE_END = re.compile(r"\r\n|\r|\n")
#: Characters that ``str.splitlines`` and JavaScript-era JSON readers treat as line breaks but JSON
#: does not escape by itself, plus unpaired surrogates (which cannot be written as UTF-8).
_JSONL_UNSAFE = re.compile("[\u0085\u2028\u2029\ud800-\udfff]")


def decode(raw: bytes, path: str | Path = "") -> str:
    """Text of a file's bytes: BOM removed, invalid UTF-8 bytes kept as lone surrogates.

    Raises:
        DataError: a UTF-16 file (it has a UTF-16 BOM) that is not valid UTF-16.
    """
    if raw.startswith(_UTF16_BOMS):
        try:
            return raw.decode("utf-16").removeprefix(BOM)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path}: not valid UTF-16 (byte {exc.start}); re-save the file as UTF-8"
            ) from exc
    return raw.decode("utf-8", errors="surrogateescape").removeprefix(BOM)


def invalid_utf8(text: str) -> str | None:
    """What is wrong with a decoded piece of text (``"byte 0xe9 at column 5"``), or None."""
    match = _INVALID.search(text)
    if match is None:
        return None
    code = ord(match.group())
    what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"unpaired surrogate U+{code:04X}"
    return f"{what} at column {match.start() + 1}"


def bad_lines(text: str) -> list[int]:
    """Physical line numbers (1-based) holding invalid UTF-8."""
    return [number for number, line in physical_lines(text) if _INVALID.search(line)]


def physical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) pairs split on ``\\n``, ``\\r\\n`` and ``\\r`` only."""
    start, number = 0, 1
    for match in _LINE_END.finditer(text):
        yield number, text[start : match.start()]
        start, number = match.end(), number + 1
    if start < len(text):
        yield number, text[start:]


def read_text(path: str | Path) -> str:
    """A whole text file as UTF-8 (or UTF-16 with a BOM), BOM stripped.

    Raises:
        DataError: the file is not valid UTF-8; the message names every bad line (``file:line``).
    """
    path = Path(path)
    text = decode(path.read_bytes(), path)
    check_utf8(text, path)
    return text


def check_utf8(text: str, path: str | Path) -> None:
    """Raise :class:`DataError` naming every line of ``text`` that held invalid UTF-8."""
    lines = bad_lines(text)
    if lines:
        shown = ", ".join(f"{path}:{n}" for n in lines[:20]) + (" ..." if len(lines) > 20 else "")
        first = dict(physical_lines(text))[lines[0]]
        raise DataError(
            f"{path}: not UTF-8 text: invalid bytes on {len(lines)} line(s): {shown} "
            f"(first: {invalid_utf8(first)}); "
            "re-save the file as UTF-8"
        )


def jsonl_line(row: Any) -> str:
    """One JSON Lines record (no trailing newline) that every reader reads back unchanged.

    Non-ASCII text stays readable (``ensure_ascii=False``); U+2028, U+2029 and U+0085 (line breaks to
    ``str.splitlines`` and some JSONL readers) and unpaired surrogates are written as ``\\u`` escapes.
    """
    text = json.dumps(row, ensure_ascii=False)
    return _JSONL_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
