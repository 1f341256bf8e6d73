"""Read question/answer examples from JSONL, JSON or CSV files, reporting bad rows by line.

Accepted field names: question | instruction | prompt, answer | response | completion, plus
optional intent, category, tags. The Bitext customer-support CSV reads as it is.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supportkit.errors import DataError

log = logging.getLogger(__name__)

QUESTION_FIELDS = ("question", "instruction", "prompt")
ANSWER_FIELDS = ("answer", "response", "completion")


@dataclass(frozen=True)
class QAExample:
    question: str
    answer: str
    intent: str | None = None
    category: str | None = None


@dataclass
class ReadReport:
    path: Path
    read: int = 0
    skipped: int = 0
    errors: list[str] | None = None


def _pick(row: Mapping[str, Any], names: tuple[str, ...], mapping: Mapping[str, str]) -> Any:
    for source, target in mapping.items():
        if target in names and source in row:
            return row[source]
    for name in names:
        if name in row:
            return row[name]
    return None


def _to_example(row: Any, mapping: Mapping[str, str]) -> QAExample:
    if not isinstance(row, Mapping):
        raise ValueError(f"expected an object, got {type(row).__name__}")
    question = _pick(row, QUESTION_FIELDS, mapping)
    answer = _pick(row, ANSWER_FIELDS, mapping)
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"missing or empty question (one of {', '.join(QUESTION_FIELDS)})")
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError(f"missing or empty answer (one of {', '.join(ANSWER_FIELDS)})")
    intent = _pick(row, ("intent",), mapping)
    category = _pick(row, ("category",), mapping)
    return QAExample(
        question.strip(),
        answer.strip(),
        str(intent) if intent not in (None, "") else None,
        str(category) if category not in (None, "") else None,
    )


def _rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed row) pairs; a row that cannot be parsed yields its exception."""
    suffix = path.suffix.lower()
    with path.open("rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        yield line, DataError(f"{path}:{line}: not valid UTF-8 ({exc.reason})")
        text = raw.decode("utf-8", errors="replace")
    if suffix == ".jsonl":
        for number, content in enumerate(text.splitlines(), start=1):
            if content.strip():
                try:
                    yield number, json.loads(content)
                except json.JSONDecodeError as exc:
                    yield number, ValueError(f"bad JSON: {exc.msg} (column {exc.colno})")
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: bad JSON: {exc.msg}") from exc
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of objects")
        for index, row in enumerate(data):
            yield index + 1, row
    elif suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        for row in reader:
            yield reader.line_num, row
    else:
        raise DataError(f"{path}: unsupported file type {suffix!r}; use .jsonl, .json or .csv")


def read_qa_examples(
    path: str | Path,
    *,
    on_error: str = "raise",
    column_mapping: Mapping[str, str] | None = None,
) -> tuple[list[QAExample], ReadReport]:
    """Read a file; ``on_error="raise"`` stops at the first bad row, ``"skip"`` counts and skips."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    mapping = dict(column_mapping or {})
    report = ReadReport(path=path, errors=[])
    examples = []
    for line, row in _rows(path):
        try:
            if isinstance(row, Exception):
                raise row
            examples.append(_to_example(row, mapping))
            report.read += 1
        except (ValueError, DataError) as exc:
            message = str(exc) if str(exc).startswith(str(path)) else f"{path}:{line}: {exc}"
            if on_error == "raise":
                raise DataError(message + " (set data.on_error=skip to skip bad rows)") from None
            report.skipped += 1
            assert report.errors is not None
            report.errors.append(message)
            log.warning("skipped %s", message)
    return examples, report
