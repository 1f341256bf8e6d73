"""What a request to the pipeline gets back, and what it sends in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
