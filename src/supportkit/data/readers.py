"""Read support data into :class:`Conversation`s, reporting every bad row by file and line.

Formats (chosen by extension, or a directory written by ``datasets.save_to_disk``):

* JSONL / JSON with chat ``messages`` (system/user/assistant, multi-turn);
* ``prompt`` / ``completion``; ``instruction`` / ``response`` (or ``question`` / ``answer``), each
  with optional ``intent``, ``category``, ``tags``;
* CSV with those columns, or any columns mapped through ``DataConfig.column_mapping``
  (``{"my_question_column": "instruction", ...}``). The Bitext customer-support CSV reads as it is.

``on_error="raise"`` stops at the first bad row (bad JSON, missing field, empty answer, non-UTF-8)
with its location; ``"skip"`` skips and counts them, nothing is dropped silently.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportkit.errors import DataError
from supportkit.privacy.pii import redact

log = logging.getLogger(__name__)

QUESTION_FIELDS = ("question", "instruction", "prompt")
ANSWER_FIELDS = ("answer", "response", "completion")
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class QAExample:
    question: str
    answer: str
    intent: str | None = None
    category: str | None = None


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


def _rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line, row) pairs; an unparsable row comes as an exception in place of the row."""
    if path.is_dir():
        try:
            from datasets import load_from_disk
        except ImportError as exc:
            raise DataError(f"{path} is a directory; reading datasets needs: pip install datasets") from exc
        for index, row in enumerate(load_from_disk(str(path))):
            yield index + 1, row
        return
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        yield line, ValueError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
        # Keep the readable lines; the bad one is reported (and skipped only with on_error=skip).
        text = "\n".join(
            "" if i + 1 == line else part.decode("utf-8", errors="replace")
            for i, part in enumerate(raw.split(b"\n"))
        )
    suffix = path.suffix.lower()
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
        yield from ((i + 1, row) for i, row in enumerate(data))
    elif suffix in (".csv", ".tsv"):
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ",")
        for row in reader:
            yield reader.line_num, row
    else:
        raise DataError(
            f"{path}: unsupported file type {suffix!r}; use .jsonl, .json, .csv or a datasets directory"
        )


def read_conversations(
    path: str | Path,
    *,
    on_error: str = "raise",
    column_mapping: Mapping[str, str] | None = None,
    redact_pii: bool | Callable[[str], str] = False,
) -> tuple[list[Conversation], ReadReport]:
    """``redact_pii``: ``True`` redacts with :func:`supportkit.privacy.pii.redact`; a callable
    (e.g. ``Redactor.from_settings(config.guardrails)``) is applied to every message instead."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    mapping = dict(column_mapping or {})
    report = ReadReport(path=path)
    out = []
    for line, row in _rows(path):
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
        log.warning("%s: skipped %d malformed row(s), first: %s", path, report.skipped, report.errors[0])
    return out, report


def read_qa_examples(
    path: str | Path,
    *,
    on_error: str = "raise",
    column_mapping: Mapping[str, str] | None = None,
    redact_pii: bool | Callable[[str], str] = False,
) -> tuple[list[QAExample], ReadReport]:
    """Question/answer pairs (a conversation's last user message and final answer); few-shot and
    intent files are read through here, redacted as training files are (``redact_pii``)."""
    conversations, report = read_conversations(
        path, on_error=on_error, column_mapping=column_mapping, redact_pii=redact_pii
    )
    return [c.to_qa() for c in conversations], report
