"""Prometheus metrics (``GET /metrics``), named as vLLM's with a ``supportkit_`` prefix.

Each app has its own registry, so several servers (tests) in one process do not collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

_LATENCY = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)
_TOKEN_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The server's counters, gauges and histograms; ``render()`` gives the Prometheus text."""

    def __init__(
        self,
        waiting: Callable[[], float],
        running: Callable[[], float],
        prefix_cache: Callable[[], Any] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        if prefix_cache is not None:
            r.register(_PrefixCacheCollector(prefix_cache))
        self.requests = Counter(
            "supportkit_http_requests",
            "HTTP requests by route, status and adapter",
            ["route", "status", "adapter"],
            registry=r,
        )
        self.running = Gauge("supportkit_num_requests_running", "Requests being generated", registry=r)
        self.running.set_function(running)
        self.waiting = Gauge("supportkit_num_requests_waiting", "Requests waiting for the engine", registry=r)
        self.waiting.set_function(waiting)
        self.ttft = Histogram(
            "supportkit_time_to_first_token_seconds",
            "Arrival to first streamed text",
            buckets=_LATENCY,
            registry=r,
        )
        self.itl = Histogram(
            "supportkit_inter_token_latency_seconds",
            "Time between streamed text chunks",
            buckets=_TOKEN_LATENCY,
            registry=r,
        )
        self.e2e = Histogram(
            "supportkit_e2e_request_latency_seconds",
            "Arrival to the whole answer",
            ["adapter"],
            buckets=_LATENCY,
            registry=r,
        )
        self.prompt_tokens = Counter("supportkit_prompt_tokens", "Prompt tokens processed", registry=r)
        self.generation_tokens = Counter("supportkit_generation_tokens", "Tokens generated", registry=r)
        self.finished = Counter(
            "supportkit_request_success", "Finished answers by finish reason", ["finished_reason"], registry=r
        )
        self.escalations = Counter(
            "supportkit_escalations", "Answers handed off to a person, by reason", ["reason"], registry=r
        )
        self.groundedness_fallbacks = Counter(
            "supportkit_groundedness_fallbacks",
            "Answers not grounded in the passages, replaced by a quote (quoted) or a hand-off (handoff)",
            ["kind"],
            registry=r,
        )
        self.feedback = Counter("supportkit_feedback", "Feedback received by rating", ["rating"], registry=r)
        self.rejected = Counter(
            "supportkit_requests_rejected",
            "Requests refused before generation, by reason",
            ["reason"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _PrefixCacheCollector(Collector):
    """The engine's prefix cache counters at scrape time (vLLM's ``prefix_cache_queries``/``hits``,
    in prompt tokens), plus its size; nothing when the engine has no prefix cache."""

    def __init__(self, cache: Callable[[], Any]) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Any]:
        cache = self._cache()
        if cache is None:
            return
        stats = cache.stats()
        queries = CounterMetricFamily(
            "supportkit_prefix_cache_queries", "Prompt tokens looked up in the prefix cache"
        )
        queries.add_metric([], stats.queries)
        hits = CounterMetricFamily(
            "supportkit_prefix_cache_hits", "Prompt tokens found in the prefix cache (not recomputed)"
        )
        hits.add_metric([], stats.hits)
        used = GaugeMetricFamily("supportkit_prefix_cache_bytes", "Bytes of K/V held by the prefix cache")
        used.add_metric([], stats.bytes)
        yield from (queries, hits, used)
