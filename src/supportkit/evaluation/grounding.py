"""Measurements of grounding and safeguards: retrieval hit rate, escalation precision/recall.

The labelled sets ship with the project (``data/eval/``): retrieval questions with the article
that answers them, and requests labelled with whether (and why) a person must take over.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportkit.errors import DataError
from supportkit.guardrails.guard import Guard
from supportkit.retrieval.knowledge import KnowledgeBase
from supportkit.utils.textfiles import physical_lines, read_text


def read_labelled(path: str | Path, required: Sequence[str]) -> list[dict[str, Any]]:
    """JSONL rows that must carry ``required`` keys (bad rows named with their line)."""
    rows = []
    for number, line in physical_lines(read_text(path)):  # BOM stripped, bad UTF-8 lines named
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        missing = [k for k in required if k not in row]
        if missing:
            raise DataError(f"{path}:{number}: missing {', '.join(missing)}")
        rows.append(row)
    return rows


@dataclass
class RetrievalScore:
    questions: int
    hit_at_1: float
    hit_at_k: float
    k: int
    misses: list[dict[str, Any]] = field(default_factory=list)


def retrieval_hit_rate(kb: KnowledgeBase, rows: Sequence[dict[str, Any]], k: int = 3) -> RetrievalScore:
    """Share of questions whose answering ``article`` is the first / among the first ``k`` hits."""
    first = within = 0
    misses = []
    for row in rows:
        articles = [h.passage.article_id for h in kb.search(row["question"], k)]
        first += articles[:1] == [row["article"]]
        if row["article"] in articles:
            within += 1
        else:
            misses.append({"question": row["question"], "want": row["article"], "got": articles})
    n = max(len(rows), 1)
    return RetrievalScore(len(rows), first / n, within / n, k, misses)


@dataclass
class EscalationScore:
    requests: int
    precision: float
    recall: float
    #: Escalated requests whose reason matches the label (among correctly escalated ones).
    reason_agreement: float
    errors: list[dict[str, Any]] = field(default_factory=list)


def escalation_scores(guard: Guard, rows: Sequence[dict[str, Any]]) -> EscalationScore:
    """Precision/recall of the before-generation escalation rules on labelled requests."""
    tp = fp = fn = same_reason = 0
    errors = []
    for row in rows:
        found = guard.assess(row["query"]).escalation
        predicted, wanted = found is not None, bool(row["escalate"])
        tp += predicted and wanted
        fp += predicted and not wanted
        fn += wanted and not predicted
        if predicted and wanted and found is not None and found.reason == row.get("reason"):
            same_reason += 1
        if predicted != wanted:
            errors.append(
                {"query": row["query"], "want": row.get("reason"), "got": found.reason if found else None}
            )
    return EscalationScore(
        len(rows),
        tp / (tp + fp) if tp + fp else 1.0,
        tp / (tp + fn) if tp + fn else 1.0,
        same_reason / tp if tp else 0.0,
        errors,
    )
