"""Field names of support data, and the check of a file's columns against ``data.column_mapping``.

The check runs on a file's header (CSV) or on the keys its rows use (JSON/JSONL) **before** any row
is read, so a typo in the mapping is reported once, with the columns the file has, the ones the
mapping expected and a suggested mapping, instead of "missing question" on every row.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping

from supportkit.errors import DataError

QUESTION_FIELDS = ("question", "instruction", "prompt")
ANSWER_FIELDS = ("answer", "response", "completion")
OPTIONAL_FIELDS = ("intent", "category", "tags")
#: Every field a mapping may target.
KNOWN_FIELDS = ("messages", *QUESTION_FIELDS, *ANSWER_FIELDS, *OPTIONAL_FIELDS)
_REQUIRED = {"question": QUESTION_FIELDS, "answer": ANSWER_FIELDS}


def check_mapping_targets(mapping: Mapping[str, str]) -> None:
    """Raise :class:`DataError` when a mapping target is not a known field (with the closest one)."""
    for source, target in mapping.items():
        if target not in KNOWN_FIELDS:
            close = difflib.get_close_matches(str(target), KNOWN_FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataError(
                f"data.column_mapping maps {source!r} to {target!r}, which is not a field{hint}; "
                f"fields: {', '.join(KNOWN_FIELDS)}"
            )


def _available(field: str, columns: Collection[str], mapping: Mapping[str, str]) -> bool:
    names = _REQUIRED.get(field, (field,))
    return any(c in columns for c in names) or any(t in names and s in columns for s, t in mapping.items())


def suggest_mapping(columns: Collection[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """A mapping for ``columns``: mapped names corrected to the closest column, unmapped fields
    matched to the column that looks most like one of their names (case-insensitive)."""
    columns = list(columns)
    lowered = {c.strip().lower(): c for c in columns}
    suggestion: dict[str, str] = {}
    for source, target in mapping.items():
        if source in columns:
            suggestion[source] = target
            continue
        close = difflib.get_close_matches(source.lower(), list(lowered), n=1, cutoff=0.6)
        if close:
            suggestion[lowered[close[0]]] = target
    for field in ("question", "answer", *OPTIONAL_FIELDS):
        if _available(field, columns, suggestion):
            continue
        names = _REQUIRED.get(field, (field,))
        for name in names:
            close = difflib.get_close_matches(
                name, [c for c in lowered if lowered[c] not in suggestion], 1, 0.75
            )
            if close:
                suggestion[lowered[close[0]]] = names[0] if field in _REQUIRED else field
                break
    return suggestion


def check_columns(columns: Collection[str], mapping: Mapping[str, str], where: str) -> None:
    """Raise :class:`DataError` when rows with these columns cannot give conversations.

    Fails when there is neither ``messages`` nor a question and an answer column (directly or through
    the mapping), and when a mapped column is absent while its field has no column of its own (the
    field would silently vanish). The message lists the file's columns, what the mapping expected and
    a suggested mapping.
    """
    check_mapping_targets(mapping)
    columns = [c for c in columns if c is not None]
    missing_required = [f for f in _REQUIRED if not _available(f, columns, mapping)]
    usable = _available("messages", columns, mapping) or not missing_required
    lost = [(s, t) for s, t in mapping.items() if s not in columns and not _available(t, columns, {})]
    if usable and not lost:
        return
    found = ", ".join(repr(c) for c in columns) or "none"
    parts = [f"{where}: the file's columns are {found}"]
    if lost:
        parts.append(
            "data.column_mapping names column(s) the file does not have: "
            + ", ".join(f"{s!r} (for {t})" for s, t in lost)
        )
    if not usable:
        parts.append(
            "no usable "
            + " and no ".join(f"{f} column ({' / '.join(_REQUIRED[f])})" for f in missing_required)
            + " and no 'messages'"
        )
    suggestion = suggest_mapping(columns, mapping)
    if suggestion and suggestion != dict(mapping):
        parts.append(f"try data.column_mapping: {suggestion}")
    elif len(columns) == 1 and any(d in columns[0] for d in ";\t|,"):
        parts.append("the header looks like one column: set data.csv_delimiter to the file's delimiter")
    else:
        parts.append("map your columns with data.column_mapping: {'<your column>': 'question', ...}")
    raise DataError("; ".join(parts))
