"""``GET /v1/dashboard?window=3600`` (admin): what the agent console's dashboard draws.

Computed from the store's answers of the last ``window`` seconds (so it survives restarts and counts
every server process sharing the store) and the process's own Prometheus counters (requests refused
before any answer: rate limits, a full queue, errors):

* ``answers``, ``latency_s`` / ``ttft_s`` (p50, p95 of end-to-end latency and time to first token),
* ``escalation``: rate and counts by reason,
* ``grounding``: grounded (checked against the articles and kept), quoted (replaced by the article's
  own sentences), handoff (escalated for low groundedness), unchecked (no articles retrieved),
* ``thumbs_up``: rate and counts by adapter (``""`` is the base model) and by intent,
* ``series``: answers, escalations and p50 latency per bucket (12 buckets over the window),
* ``http``: requests since the process started by route and status (``GET /metrics`` has them all).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from supportkit.serving.errors import APIError
from supportkit.serving.schemas import ErrorBody
from supportkit.serving.state import authorize, state_of
from supportkit.serving.store_io import store_errors

router = APIRouter()
BUCKETS = 12


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    p50, p95 = np.percentile(np.asarray(values, dtype=float), [50, 95])
    return {"p50": round(float(p50), 4), "p95": round(float(p95), 4)}


def _rates(groups: dict[str, Counter[str]]) -> dict[str, dict[str, float | int]]:
    return {
        name: {"up": c["up"], "down": c["down"], "rate": round(c["up"] / (c["up"] + c["down"]), 4)}
        for name, c in sorted(groups.items())
        if c["up"] + c["down"]
    }


def summarize(
    answers: list[tuple[float, dict[str, Any], list[str]]], since: float, window: float
) -> dict[str, Any]:
    """The dashboard's figures from ``(created_at, metadata, ratings)`` answers (see the module doc)."""
    latency = [float(m["latency_s"]) for _, m, _ in answers if m.get("latency_s") is not None]
    ttft = [float(m["ttft_s"]) for _, m, _ in answers if m.get("ttft_s") is not None]
    reasons = Counter(str(m["escalation"]) for _, m, _ in answers if m.get("escalation"))
    grounding: Counter[str] = Counter()
    by_adapter: dict[str, Counter[str]] = defaultdict(Counter)
    by_intent: dict[str, Counter[str]] = defaultdict(Counter)
    step = window / BUCKETS
    counts, escalations = [0] * BUCKETS, [0] * BUCKETS
    latencies: list[list[float]] = [[] for _ in range(BUCKETS)]
    for created, meta, ratings in answers:
        if meta.get("quoted"):
            grounding["quoted"] += 1
        elif meta.get("escalation") == "low_groundedness":
            grounding["handoff"] += 1
        elif meta.get("groundedness") is not None:
            grounding["grounded"] += 1
        elif not meta.get("escalation"):
            grounding["unchecked"] += 1
        for rating in ratings:
            by_adapter[str(meta.get("adapter") or "")][rating] += 1
            by_intent[str(meta.get("intent") or "unknown")][rating] += 1
        bucket = min(BUCKETS - 1, max(0, int((created - since) / step)))
        counts[bucket] += 1
        escalations[bucket] += bool(meta.get("escalation"))
        if meta.get("latency_s") is not None:
            latencies[bucket].append(float(meta["latency_s"]))
    total_ratings: Counter[str] = sum(by_adapter.values(), Counter())
    rated = total_ratings["up"] + total_ratings["down"]
    return {
        "window_s": window,
        "since": since,
        "answers": len(answers),
        "latency_s": _percentiles(latency),
        "ttft_s": _percentiles(ttft),
        "escalation": {
            "rate": round(sum(reasons.values()) / len(answers), 4) if answers else None,
            "reasons": dict(reasons.most_common()),
        },
        "grounding": {k: grounding[k] for k in ("grounded", "quoted", "handoff", "unchecked")},
        "thumbs_up": {
            "rate": round(total_ratings["up"] / rated, 4) if rated else None,
            "by_adapter": _rates(by_adapter),
            "by_intent": _rates(by_intent),
        },
        "series": [
            {
                "start": round(since + i * step, 3),
                "answers": counts[i],
                "escalations": escalations[i],
                "latency_p50": _percentiles(latencies[i])["p50"],
            }
            for i in range(BUCKETS)
        ],
    }


def _http_counts(registry: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for family in registry.collect():
        if family.name != "supportkit_http_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = f"{sample.labels['route']} {sample.labels['status']}"
                counts[key] = counts.get(key, 0) + int(sample.value)
    return dict(sorted(counts.items()))


@router.get("/v1/dashboard", responses={s: {"model": ErrorBody} for s in (400, 401, 403, 404, 429, 503)})
async def dashboard(
    request: Request, window: Annotated[int, Query(ge=60, le=30 * 86400)] = 3600
) -> dict[str, Any]:
    """Requests, latency, TTFT, escalations, grounding and thumbs-up rates over the last ``window`` s."""
    state = state_of(request)
    authorize(request, "admin")
    if state.store is None:
        raise APIError(404, "this server keeps no conversations (start it with prompt.store_path set)")
    since = time.time() - window
    with store_errors():
        answers = await run_in_threadpool(state.store.answers_since, since)
    body = summarize(answers, since, float(window))
    body["http"] = _http_counts(state.metrics.registry)
    return body
