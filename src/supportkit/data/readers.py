"""Read support data into :class:`Conversation`s, reporting every bad row by file and line.

Formats (chosen by extension, or a directory written by ``datasets.save_to_disk``):

* JSONL / JSON with chat ``messages`` (system/user/assistant, multi-turn);
* ``prompt`` / ``completion``; ``instruction`` / ``response`` (or ``question`` / ``answer``), each
  with optional ``intent``, ``category``, ``tags``;
* CSV with those columns, or any columns mapped through ``DataConfig.column_mapping``
  (``{"my_question_column": "instruction", ...}``). The Bitext customer-support CSV reads as it is.

Text files are UTF-8 with or without a BOM (UTF-16 with a BOM is read too); JSONL lines end at
``\n`` / ``\r\n`` / ``\r`` only, so U+2028 inside a string is text and line numbers are the
physical lines an editor shows; CSV is parsed by the csv module on the raw text (line breaks inside
quoted cells kept, delimiter detected or ``data.csv_delimiter``). A file's columns are checked
against the mapping before any row is read (:mod:`supportkit.data.columns`).

``on_error="raise"`` stops at the first bad row (bad JSON, missing field, empty answer, non-UTF-8,
a CSV row with more or fewer cells than the header) with its location; ``"skip"`` skips, counts and
lists every one of them: nothing is dropped silently, no replacement character is trained on.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportkit.data.columns import (
    ANSWER_FIELDS,
    KNOWN_FIELDS,
    QUESTION_FIELDS,
    check_columns,
    check_mapping_targets,
)
from supportkit.data.csvfile import csv_rows, detect_delimiter
from supportkit.errors import DataError
from supportkit.privacy.pii import redact
from supportkit.retrieval.example import QAExample
from supportkit.utils.textfiles import BOM, decode, invalid_utf8, physical_lines

log = logging.getLogger(__name__)

__all__ = [
    "KNOWN_FIELDS",
    "Conversation",
    "QAExample",
    "ReadReport",
    "read_conversations",
    "read_qa_examples",
]

_LINE_END = re.compile(r"\r\n|\r|\n")
_EXCEL_SEP = re.compile(r"sep=(.)(?:\r\n|\r|\n)")
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Conversation:
    messages: tuple[dict[str, str], ...]
    intent: str | None = None
    category: str | None = None
    tags: str | None = None
    #: "file:line" the row came from (for error messages and reports).
    source: str = ""

    @property
    def question(self) -> str:
        """The last user message (what the final answer responds to)."""
        return next(m["content"] for m in reversed(self.messages) if m["role"] == "user")

    @property
    def answer(self) -> str:
        return self.messages[-1]["content"]

    def to_qa(self) -> QAExample:
        return QAExample(self.question, self.answer, self.intent, self.category)


@dataclass
class ReadReport:
    path: Path
    read: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def _pick(row: Mapping[str, Any], names: Sequence[str], mapping: Mapping[str, str]) -> Any:
    for source, target in mapping.items():
        if target in names and source in row:
            return row[source]
    for name in names:
        if name in row:
            return row[name]
    return None


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"missing or empty {what}")
    return value.strip()


def _messages(raw: Any) -> tuple[dict[str, str], ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError("'messages' must be a non-empty list")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, Mapping) or m.get("role") not in ROLES:
            raise ValueError(f"message {i} needs a role of {', '.join(ROLES)}")
        out.append({"role": m["role"], "content": _text(m.get("content"), f"content in message {i}")})
    if out[-1]["role"] != "assistant":
        raise ValueError("the last message must be the assistant's answer")
    if not any(m["role"] == "user" for m in out):
        raise ValueError("a conversation needs at least one user message")
    return tuple(out)


def to_conversation(
    row: Any, mapping: Mapping[str, str], source: str, pii: bool | Callable[[str], str]
) -> Conversation:
    if not isinstance(row, Mapping):
        raise ValueError(f"expected an object, got {type(row).__name__}")
    messages_raw = _pick(row, ("messages",), mapping)
    if messages_raw is not None:
        messages = _messages(messages_raw)
    else:
        question = _text(_pick(row, QUESTION_FIELDS, mapping), f"question ({' / '.join(QUESTION_FIELDS)})")
        answer = _text(_pick(row, ANSWER_FIELDS, mapping), f"answer ({' / '.join(ANSWER_FIELDS)})")
        messages = ({"role": "user", "content": question}, {"role": "assistant", "content": answer})
    if pii:
        clean = pii if callable(pii) else redact
        messages = tuple({"role": m["role"], "content": clean(m["content"])} for m in messages)

    def opt(name: str) -> str | None:
        value = _pick(row, (name,), mapping)
        return str(value) if value not in (None, "") else None

    return Conversation(messages, opt("intent"), opt("category"), opt("tags"), source)


def _jsonl_rows(text: str) -> Iterator[tuple[int, Any]]:
    for number, content in physical_lines(text):  # \n, \r\n, \r only: U+2028 is text
        content = content.removeprefix(BOM)  # files concatenated with their BOMs
        if not content.strip():
            continue
        bad = invalid_utf8(content)
        if bad:
            yield number, ValueError(f"not valid UTF-8 ({bad}); re-save the file as UTF-8")
            continue
        try:
            yield number, json.loads(content)
        except json.JSONDecodeError as exc:
            yield number, ValueError(f"bad JSON: {exc.msg} (column {exc.colno})")


def _invalid_in(value: Any) -> str | None:
    """The first invalid UTF-8 found in the strings of a parsed JSON value, or None."""
    if isinstance(value, str):
        return invalid_utf8(value)
    items = (
        [*value, *value.values()] if isinstance(value, Mapping) else value if isinstance(value, list) else ()
    )
    for item in items:
        found = _invalid_in(item)
        if found:
            return found
    return None


def _json_rows(text: str, path: Path) -> Iterator[tuple[int, Any]]:
    """The rows of a JSON list, each with the physical line it starts on."""
    decoder, space = json.JSONDecoder(), re.compile(r"[ \t\n\r]*")

    def bad(exc: json.JSONDecodeError) -> DataError:
        return DataError(f"{path}:{exc.lineno}: bad JSON: {exc.msg}")

    pos = space.match(text).end()  # type: ignore[union-attr]
    if not text.startswith("[", pos):
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise bad(exc) from exc
        raise DataError(f"{path}: expected a JSON list of objects")
    line, counted = 1, 0
    pos = space.match(text, pos + 1).end()  # type: ignore[union-attr]
    while not text.startswith("]", pos):
        try:
            row, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise bad(exc) from exc
        line += len(_LINE_END.findall(text, counted, pos))
        counted = pos
        found = _invalid_in(row)
        yield line, ValueError(f"not valid UTF-8 ({found}); re-save the file as UTF-8") if found else row
        pos = space.match(text, end).end()  # type: ignore[union-attr]
        if text.startswith(",", pos):
            pos = space.match(text, pos + 1).end()  # type: ignore[union-attr]
        elif not text.startswith("]", pos):
            raise bad(json.JSONDecodeError("expected ',' or ']'", text, pos))
    if text[pos + 1 :].strip():
        raise bad(json.JSONDecodeError("extra data after the list", text, pos + 1))


def _rows(path: Path, mapping: Mapping[str, str], delimiter: str | None) -> Iterator[tuple[int, Any]]:
    """(line, row) pairs; an unparsable row comes as an exception in place of the row.

    The file's columns are checked against ``mapping`` before the first row is given out."""
    if path.is_dir():
        try:
            from datasets import load_from_disk
        except ImportError as exc:
            raise DataError(f"{path} is a directory; reading datasets needs: pip install datasets") from exc
        dataset = load_from_disk(str(path))
        check_columns(dataset.column_names, mapping, str(path))
        for index, row in enumerate(dataset):
            yield index + 1, row
        return
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".csv", ".tsv"):
        raise DataError(
            f"{path}: unsupported file type {suffix!r}; use .jsonl, .json, .csv, .tsv or a datasets directory"
        )
    text = decode(path.read_bytes(), path)
    if suffix in (".csv", ".tsv"):
        hint = _EXCEL_SEP.match(text)  # Excel's "sep=;" first line
        if hint:
            text, delimiter = text[hint.end() :], delimiter or hint.group(1)
        delimiter = delimiter or detect_delimiter(text, mapping, suffix=suffix)
        header, rows = csv_rows(text, delimiter=delimiter, first_line=2 if hint else 1)
        where = f"{path}:{2 if hint else 1}"
        bad = next((invalid_utf8(h) for h in header if invalid_utf8(h)), None)
        if bad:
            raise DataError(f"{where}: the header is not valid UTF-8 ({bad}); re-save the file as UTF-8")
        check_columns(header, mapping, f"{where} (delimiter {delimiter!r})")
        yield from rows
        return
    parsed = list(_jsonl_rows(text) if suffix == ".jsonl" else _json_rows(text, path))
    keys = {k for _, row in parsed if isinstance(row, Mapping) for k in row}
    if keys:
        check_columns(sorted(keys), mapping, str(path))
    yield from parsed


def read_conversations(
    path: str | Path,
    *,
    on_error: str = "raise",
    column_mapping: Mapping[str, str] | None = None,
    redact_pii: bool | Callable[[str], str] = False,
    csv_delimiter: str | None = None,
) -> tuple[list[Conversation], ReadReport]:
    """Every conversation of a data file, with a report of the bad rows.

    Args:
        path: a ``.jsonl``, ``.json``, ``.csv`` or ``.tsv`` file (UTF-8, BOM or not; UTF-16 with a
            BOM) or a ``datasets.save_to_disk`` directory.
        on_error: ``"raise"`` stops at the first bad row; ``"skip"`` skips, counts and lists them.
        column_mapping: file column -> field (:data:`KNOWN_FIELDS`).
        redact_pii: ``True`` redacts every message with :func:`supportkit.privacy.pii.redact`; a
            callable (e.g. ``Redactor.from_settings(config.guardrails)``) is applied instead.
        csv_delimiter: force the CSV delimiter (one character, or ``"tab"``; default: detected).

    Raises:
        DataError: a missing or unreadable file, columns that give no conversation (checked before
            any row), a bad row with ``on_error="raise"`` (``file:line: what``).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    mapping = dict(column_mapping or {})
    check_mapping_targets(mapping)
    if csv_delimiter in ("tab", "\\t"):
        csv_delimiter = "\t"
    report = ReadReport(path=path)
    out = []
    for line, row in _rows(path, mapping, csv_delimiter):
        try:
            if isinstance(row, Exception):
                raise row
            out.append(to_conversation(row, mapping, f"{path}:{line}", redact_pii))
            report.read += 1
        except ValueError as exc:
            message = f"{path}:{line}: {exc}"
            if on_error == "raise":
                raise DataError(message + " (set data.on_error=skip to skip and count bad rows)") from None
            report.skipped += 1
            report.errors.append(message)
    if report.skipped:
        log.warning(
            "%s: skipped %d malformed row(s): %s",
            path,
            report.skipped,
            "; ".join(report.errors[:5]) + (" ..." if report.skipped > 5 else ""),
        )
    return out, report


def read_qa_examples(
    path: str | Path,
    *,
    on_error: str = "raise",
    column_mapping: Mapping[str, str] | None = None,
    redact_pii: bool | Callable[[str], str] = False,
    csv_delimiter: str | None = None,
) -> tuple[list[QAExample], ReadReport]:
    """Question/answer pairs (a conversation's last user message and final answer); few-shot and
    intent files are read through here, redacted as training files are (``redact_pii``)."""
    conversations, report = read_conversations(
        path,
        on_error=on_error,
        column_mapping=column_mapping,
        redact_pii=redact_pii,
        csv_delimiter=csv_delimiter,
    )
    return [c.to_qa() for c in conversations], report
