"""CSV / TSV rows as the csv module parses them on the raw text, with their physical line numbers.

Quoted cells keep their line breaks (``\\n``, ``\\r\\n`` or old-Mac ``\\r``); the delimiter is
``data.csv_delimiter`` when set, a tab for ``.tsv``, else the candidate (``,`` ``;`` tab ``|``) under
which the header names the most known fields, ties going to :class:`csv.Sniffer`'s guess, then ``,``
(so a German Excel file with ``;`` reads as it is). A row with more or fewer cells than the header is
a bad row, reported with its line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping

from supportkit.data.columns import KNOWN_FIELDS
from supportkit.utils.textfiles import invalid_utf8

CANDIDATES = (",", ";", "\t", "|")


def _header(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    except csv.Error:
        return []


def detect_delimiter(text: str, mapping: Mapping[str, str], *, suffix: str = ".csv") -> str:
    """The delimiter of a CSV text (see the module docstring for the rule)."""
    if suffix == ".tsv":
        return "\t"
    known = {f.lower() for f in KNOWN_FIELDS} | {s.strip().lower() for s in mapping}
    try:
        sniffed = csv.Sniffer().sniff(text[:65536], delimiters="".join(CANDIDATES)).delimiter
    except csv.Error:
        sniffed = ","

    def score(d: str) -> tuple[int, bool, bool]:
        header = [h.strip().lower() for h in _header(text, d)]
        return sum(h in known for h in header), d == sniffed, d == ","

    return max(CANDIDATES, key=score)


def csv_rows(
    text: str, *, delimiter: str, first_line: int = 1
) -> tuple[list[str], Iterator[tuple[int, dict[str, str] | Exception]]]:
    """(header, rows): each row as ``(first physical line, {column: cell})`` or an exception;
    ``first_line`` is the file line ``text`` starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    first_error: csv.Error | None = None
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as exc:
        header, first_error = [], exc

    def rows() -> Iterator[tuple[int, dict[str, str] | Exception]]:
        if first_error is not None:
            yield first_line, ValueError(f"unreadable CSV header ({first_error})")
            return
        previous = reader.line_num
        while True:
            start = previous + first_line
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, ValueError(f"unreadable CSV row ({exc})")
                return
            previous = reader.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip() and len(header) > 1):
                continue  # a blank line
            bad = next((invalid_utf8(c) for c in cells if invalid_utf8(c)), None)
            if bad:
                yield start, ValueError(f"not valid UTF-8 ({bad} of a cell); re-save the file as UTF-8")
            elif len(cells) != len(header):
                more = "more" if len(cells) > len(header) else "fewer"
                yield (
                    start,
                    ValueError(
                        f"{len(cells)} cells but the header has {len(header)} columns ({more}: a "
                        f"delimiter {delimiter!r} inside an unquoted cell, or a wrong data.csv_delimiter?)"
                    ),
                )
            else:
                yield start, dict(zip(header, cells, strict=True))

    return header, rows()
