"""Write conversations in every format :mod:`supportkit.data.readers` reads, so that reading gives
them back unchanged (``.jsonl``, ``.json``, ``.csv``, ``.tsv``, or a ``datasets`` directory).

Single-turn conversations without a system message are written as ``question`` / ``answer`` rows
(the columns CSV and TSV hold); the others as chat ``messages`` (JSON, JSONL and datasets only).
JSON text escapes what other readers split lines on (:func:`~supportkit.utils.textfiles.jsonl_line`);
CSV quotes every cell (a lone ``\\r`` in a cell stays text). Files are UTF-8 without a BOM.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from supportkit.data.readers import Conversation
from supportkit.errors import DataError
from supportkit.utils.textfiles import jsonl_line

PAIR_COLUMNS = ("question", "answer", "intent", "category", "tags")


def conversation_row(conversation: Conversation) -> dict[str, Any]:
    """The record written for one conversation (``question``/``answer`` or ``messages``)."""
    m = conversation.messages
    if len(m) == 2 and (m[0]["role"], m[1]["role"]) == ("user", "assistant"):
        row: dict[str, Any] = {"question": m[0]["content"], "answer": m[1]["content"]}
    else:
        row = {"messages": [dict(x) for x in m]}
    for name in ("intent", "category", "tags"):
        value = getattr(conversation, name)
        if value is not None:
            row[name] = value
    return row


def _csv_text(rows: list[dict[str, Any]], delimiter: str, path: Path) -> str:
    out = io.StringIO(newline="")
    # Every cell quoted: csv's minimal quoting leaves a lone "\r" unquoted, which reads as a line end.
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(PAIR_COLUMNS)
    for number, row in enumerate(rows, start=1):
        if "messages" in row:
            raise DataError(
                f"{path}: conversation {number} has several turns or a system message; "
                "CSV holds one question and answer per row: write .jsonl or .json instead"
            )
        writer.writerow([row.get(c) or "" for c in PAIR_COLUMNS])
    return out.getvalue()


def write_conversations(conversations: Iterable[Conversation], path: str | Path) -> Path:
    """Write ``conversations`` to ``path``; the format follows the suffix (no suffix: a datasets
    directory). The file is replaced atomically.

    Raises:
        DataError: an unsupported suffix, or a multi-turn conversation for CSV/TSV.
    """
    path = Path(path)
    rows = [conversation_row(c) for c in conversations]
    suffix = path.suffix.lower()
    if suffix == "":
        import datasets

        names = list(dict.fromkeys(k for r in rows for k in r))  # from_list would take the first row's
        columns = {n: [r.get(n) for r in rows] for n in names}
        datasets.Dataset.from_dict(columns).save_to_disk(str(path))
        return path
    if suffix == ".jsonl":
        text = "".join(jsonl_line(r) + "\n" for r in rows)
    elif suffix == ".json":
        text = "[\n" + ",\n".join(jsonl_line(r) for r in rows) + "\n]\n"
    elif suffix in (".csv", ".tsv"):
        text = _csv_text(rows, "\t" if suffix == ".tsv" else ",", path)
    else:
        raise DataError(f"{path}: cannot write {suffix!r}; use .jsonl, .json, .csv, .tsv or a directory")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
