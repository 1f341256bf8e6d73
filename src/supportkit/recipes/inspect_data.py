"""What a data file holds, before any model loads (``supportkit data inspect``).

Reads the file the way training would (format, delimiter, column mapping), skipping bad rows
instead of stopping, and reports: columns and the mapping used or suggested, row counts, bad rows
(``file:line``), intents, answer lengths in words and conversation lengths in tokens (the
configured model's tokenizer; no weights are loaded), what ``data.max_length`` would shorten, cut or
drop, duplicate questions (MiniLM near-duplicates with ``near_duplicates=True``) and personal data.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.data.columns import suggest_mapping
from supportkit.data.csvfile import detect_delimiter
from supportkit.data.readers import Conversation, read_conversations
from supportkit.errors import DataError
from supportkit.privacy.pii import find_pii
from supportkit.utils.textfiles import decode

_EXCEL_SEP = re.compile(r"sep=(.)(?:\r\n|\r|\n)")


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """The report lists bad rows and fit problems itself: the readers' warnings would repeat them."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


FORMATS = {".csv": "CSV", ".tsv": "TSV", ".jsonl": "JSON Lines", ".json": "JSON list"}


@dataclass
class DataInspection:
    path: Path
    format: str
    delimiter: str | None = None
    bom: bool = False
    columns: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    #: A mapping to try when the columns give no conversations with the configured one.
    suggested_mapping: dict[str, str] = field(default_factory=dict)
    #: Why the file gives no conversations at all (columns / mapping), else ``None``.
    problem: str | None = None
    rows: int = 0
    bad_rows: list[str] = field(default_factory=list)
    intents: Counter[str] = field(default_factory=Counter)
    answer_words: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    max_length: int = 0
    shortened: int = 0
    cut: int = 0
    dropped: list[str] = field(default_factory=list)
    #: Groups (``file:line`` lists) of duplicate or near-duplicate questions.
    duplicates: list[list[str]] = field(default_factory=list)
    near_duplicates_checked: bool = False
    #: Groups shared with ``data.validation_file`` (a question in both files leaks into validation).
    across_files: list[list[str]] = field(default_factory=list)
    #: ``file:line`` -> PII kinds found in that conversation.
    pii: dict[str, list[str]] = field(default_factory=dict)


def _columns(path: Path, text: str, mapping: dict[str, str], delimiter: str | None) -> tuple[list[str], Any]:
    import csv
    import json

    if path.suffix.lower() in (".csv", ".tsv"):
        hint = _EXCEL_SEP.match(text)
        if hint:
            text, delimiter = text[hint.end() :], delimiter or hint.group(1)
        delimiter = delimiter or detect_delimiter(text, mapping, suffix=path.suffix.lower())
        header = next(csv.reader(text.splitlines()[:1], delimiter=delimiter), [])
        return header, delimiter
    keys: set[str] = set()
    if path.suffix.lower() == ".jsonl":
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            keys |= set(row) if isinstance(row, dict) else set()
    else:
        try:
            rows = json.loads(text)
        except ValueError:
            rows = []
        keys = {k for r in rows if isinstance(r, dict) for k in r} if isinstance(rows, list) else set()
    return sorted(keys), None


def _histogram(values: Sequence[int], bins: Sequence[int]) -> list[tuple[str, int]]:
    out = []
    low = 0
    for high in [*bins, None]:
        label = f"{low}-{high - 1}" if high is not None else f"{low}+"
        out.append((label, sum(1 for v in values if v >= low and (high is None or v < high))))
        low = high or 0
    return out


def inspect_data(
    path: str | Path,
    config: Config | None = None,
    *,
    tokenizer: Any = None,
    near_duplicates: bool = False,
    embedder: Any = None,
) -> DataInspection:
    """Inspect one data file with ``config``'s data settings (mapping, delimiter, max_length).

    ``tokenizer``: default the configured model's (``model.name_or_path``; only the tokenizer is
    loaded). ``near_duplicates``: also group questions more similar than ``data.dedup_threshold``
    (MiniLM, or ``embedder``). Raises :class:`DataError` for a missing or unsupported file.
    """
    config = config or Config()
    d = config.data
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .csv, .tsv, .jsonl or .json")
    raw = path.read_bytes()
    mapping = dict(d.column_mapping)
    delimiter = "\t" if d.csv_delimiter in ("tab", "\\t") else d.csv_delimiter
    result = DataInspection(path, fmt, bom=raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")))
    result.columns, result.delimiter = _columns(path, decode(raw, path), mapping, delimiter)
    result.mapping = mapping
    try:
        with _quiet("supportkit.data.readers"):
            conversations, report = read_conversations(
                path, on_error="skip", column_mapping=mapping, csv_delimiter=d.csv_delimiter
            )
    except DataError as exc:
        result.problem = str(exc)
        result.suggested_mapping = suggest_mapping(result.columns, mapping)
        return result
    result.rows = report.read + report.skipped
    result.bad_rows = report.errors
    result.intents = Counter(c.intent or "(none)" for c in conversations)
    result.answer_words = [len(c.answer.split()) for c in conversations]
    for c in conversations:
        kinds = sorted({s.kind for m in c.messages for s in find_pii(m["content"])})
        if kinds:
            result.pii[c.source] = kinds
    _duplicates(result, conversations, config, near_duplicates, embedder)
    if conversations:
        _fit(result, conversations, config, tokenizer)
    return result


def _duplicates(
    result: DataInspection, conversations: list[Conversation], config: Config, near: bool, embedder: Any
) -> None:
    from supportkit.data.splits import near_duplicate_groups

    threshold = config.data.dedup_threshold if near else None
    if near and embedder is None and threshold is not None:
        from supportkit.retrieval.embedder import default_embedder

        embedder = default_embedder()
    others: list[Conversation] = []
    other = config.data.validation_file
    if other and Path(other).resolve() != result.path.resolve() and Path(other).is_file():
        with _quiet("supportkit.data.readers"):
            others, _ = read_conversations(
                other,
                on_error="skip",
                column_mapping=config.data.column_mapping,
                csv_delimiter=config.data.csv_delimiter,
            )
    everything = [*conversations, *others]
    groups = near_duplicate_groups([c.question for c in everything], embedder if near else None, threshold)
    members: dict[int, list[str]] = defaultdict(list)
    for c, g in zip(everything, groups, strict=True):
        members[g].append(c.source)
    mine = {c.source for c in conversations}
    found = [m for m in members.values() if len(m) > 1]
    result.duplicates = [m for m in found if all(s in mine for s in m)]
    result.across_files = [m for m in found if any(s in mine for s in m) and not all(s in mine for s in m)]
    result.near_duplicates_checked = near and threshold is not None


def _fit(result: DataInspection, conversations: list[Conversation], config: Config, tokenizer: Any) -> None:
    from supportkit.data.loader import DataLoader
    from supportkit.models.tokenizer import encode_chat
    from supportkit.prompts.prompt_sets import load_prompt_set

    loader = DataLoader(config.with_overrides([]), tokenizer)  # a copy: an unset max_length is chosen
    tok = loader.tokenizer  # the configured model's tokenizer only
    with _quiet("supportkit.data.loader"):
        _, fit = loader.tokenize_report(conversations)
    result.max_length = loader.config.data.max_length or 0
    result.shortened, result.cut, result.dropped = fit.shortened, fit.cut, fit.dropped
    system = load_prompt_set(config.prompt.prompt_set).system if config.data.add_system_prompt else None

    def messages(c: Conversation) -> list[dict[str, str]]:  # as training sees it (tokenize_report)
        out = list(c.messages)
        return [{"role": "system", "content": system}, *out] if system and out[0]["role"] != "system" else out

    result.tokens = [len(encode_chat(tok, messages(c), add_generation_prompt=False)) for c in conversations]


def format_inspection(r: DataInspection) -> str:
    """A plain-text report (terminal width independent, < 100 columns)."""
    lines = [f"file:        {r.path}", f"format:      {r.format}" + (" (with a BOM)" if r.bom else "")]
    if r.delimiter is not None:
        lines.append(f"delimiter:   {'tab' if r.delimiter == chr(9) else repr(r.delimiter)}")
    lines.append(f"columns:     {', '.join(r.columns) or '(none found)'}")
    lines.append(f"mapping:     {r.mapping or '(none: column names used as they are)'}")
    if r.problem:
        lines += ["", f"PROBLEM: {r.problem}"]
        if r.suggested_mapping:
            lines.append(f"suggested data.column_mapping: {r.suggested_mapping}")
        return "\n".join(lines)
    good = r.rows - len(r.bad_rows)
    lines.append(f"rows:        {r.rows} ({good} usable, {len(r.bad_rows)} bad)")
    for e in r.bad_rows[:20]:
        lines.append(f"  bad row  {e}")
    if len(r.bad_rows) > 20:
        lines.append(f"  ... {len(r.bad_rows) - 20} more bad rows")
    if not good:
        return "\n".join(lines)
    lines += ["", "intent                          count"]
    lines += [f"  {name[:30]:<30} {n:>5}" for name, n in r.intents.most_common()]
    lines += _bars("answer length (words)", _histogram(r.answer_words, (10, 25, 50, 100, 200)))
    if r.tokens:
        edges = sorted({64, 128, 256, 512, r.max_length, 2 * r.max_length})
        lines += _bars("conversation length (tokens, with the system prompt)", _histogram(r.tokens, edges))
        lines += [
            "",
            f"data.max_length={r.max_length}: {r.shortened} would lose early turns, {r.cut} would have "
            f"the final answer cut, {len(r.dropped)} would be dropped",
        ]
        lines += [f"  dropped  {_short(s, r.path)}" for s in r.dropped[:10]]
    kind = "duplicate or near-duplicate (MiniLM)" if r.near_duplicates_checked else "duplicate"
    lines += ["", f"{kind} question groups: {len(r.duplicates)} (each is kept in one split)"]
    lines += [
        "  " + ", ".join(_short(s, r.path) for s in g[:6]) + (" ..." if len(g) > 6 else "")
        for g in r.duplicates[:10]
    ]
    if r.across_files:
        lines.append(f"shared with data.validation_file (they leak into validation): {len(r.across_files)}")
        lines += ["  " + ", ".join(g[:4]) + (" ..." if len(g) > 4 else "") for g in r.across_files[:10]]
    if not r.near_duplicates_checked:
        lines.append("  (--near-duplicates also groups paraphrases, with the MiniLM embedder)")
    lines += ["", f"personal data found in {len(r.pii)} conversation(s)"]
    lines += [f"  {_short(where, r.path)}: {', '.join(kinds)}" for where, kinds in list(r.pii.items())[:10]]
    if r.pii:
        lines.append("  (data.redact_pii=true replaces it when the file is read for training)")
    return "\n".join(lines)


def _short(source: str, path: Path) -> str:
    """``file:line`` of the inspected file as ``line N`` (the file is named at the top)."""
    return "line " + source[len(str(path)) + 1 :] if source.startswith(f"{path}:") else source


def _bars(title: str, hist: list[tuple[str, int]], width: int = 40) -> list[str]:
    top = max((n for _, n in hist), default=0) or 1
    return ["", title] + [f"  {label:>10} {n:>6} {'#' * round(width * n / top)}" for label, n in hist]
