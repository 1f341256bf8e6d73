"""What a request to the pipeline gets back, and what it sends in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from supportkit.retrieval.knowledge import Hit


@dataclass
class Request:
    """One request for :meth:`InferencePipeline.generate_batch` (all fields but query optional)."""

    query: str
    strategy: str | None = None
    role: str | None = None
    user_context: Mapping[str, Any] | None = None
    user_id: str | None = None
    #: Earlier turns (oldest first); default: the user's stored history when a store is configured.
    history: Sequence[Mapping[str, str]] | None = None
    #: Restrict few-shot examples to this intent.
    intent: str | None = None
    #: Named adapter to answer with (default: ``prompt.role_adapters[role]``, else the active one).
    adapter: str | None = None
    #: A reference answer: the response then carries metric scores against it.
    reference: str | None = None


@dataclass
class UsedExample:
    question: str
    answer: str
    intent: str | None
    similarity: float | None


@dataclass
class UsedPassage:
    id: str
    title: str
    url: str
    #: Ranking score (fused with BM25 when hybrid) and cosine similarity to the query.
    score: float
    similarity: float

    @classmethod
    def from_hit(cls, hit: Hit) -> UsedPassage:
        p = hit.passage
        return cls(p.id, p.title, p.url, round(hit.score, 4), round(hit.similarity, 4))


@dataclass
class Response:
    text: str
    strategy: str
    role: str | None
    prompt_version: str
    examples: list[UsedExample] = field(default_factory=list)
    #: Chain-of-thought analysis (kept out of ``text``).
    reasoning: str | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    #: Wall time of the generate call that produced this answer (shared within a batch).
    latency_s: float = 0.0
    #: What the token budget removed: examples, history_messages, query_tokens.
    cut: dict[str, int] = field(default_factory=dict)
    #: False when generation stopped at max_new_tokens rather than at end-of-turn.
    finished: bool = True
    adapter: str | None = None
    user_id: str | None = None
    metrics: dict[str, float] | None = None
    #: Knowledge passages put in the prompt, most relevant first.
    passages: list[UsedPassage] = field(default_factory=list)
    #: Titles of the articles the answer is grounded in (cited at its end when knowledge.cite).
    citations: list[str] = field(default_factory=list)
    #: Share of the answer's claims supported by the passages (``None``: no passages were used).
    groundedness: float | None = None
    #: Detected intent (k-NN over labelled examples) and its vote share.
    intent: str | None = None
    intent_confidence: float | None = None
    #: True when a person must take over: ``text`` is then the hand-off message and ``escalation``
    #: holds the reason, the detail and the hand-off summary for the agent.
    escalate: bool = False
    escalation: dict[str, Any] | None = None
    #: What the output guardrails changed (slots_filled, redacted, leak_replaced, truncated, ...).
    guardrails: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
