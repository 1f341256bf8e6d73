"""What a request to the pipeline gets back, and what it sends in."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from supportkit.retrieval.knowledge import Hit


@dataclass
class Request:
    """One request for :meth:`InferencePipeline.respond_batch` (all fields but query optional).

    Decode settings left ``None`` take the pipeline's defaults (``generation.*``).
    """

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
    #: Identifies the request in logs and in its Response (default: a random hex id).
    id: str | None = None
    #: Most tokens to generate (default ``generation.max_new_tokens``).
    max_new_tokens: int | None = None
    #: Sample instead of greedy decoding (default ``generation.do_sample``).
    do_sample: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    #: Sampling seed: a seeded sampled request gets the same answer every time.
    seed: int | None = None
    #: Texts that end the answer (not included in it).
    stop: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.id is None:
            self.id = str(uuid.uuid4())  # dashed: an identifier, never mistaken for a secret in logs


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
    """The answer to one :class:`Request` with what produced it."""

    text: str
    strategy: str
    role: str | None
    prompt_version: str
    examples: list[UsedExample] = field(default_factory=list)
    #: Chain-of-thought analysis (kept out of ``text``).
    reasoning: str | None = None
    #: Usage: tokens in the prompt and tokens generated.
    prompt_tokens: int = 0
    generated_tokens: int = 0
    #: Seconds from the start of the decode call that produced this answer to its last token
    #: (its own end, also within a batch; 0 for an escalated request).
    latency_s: float = 0.0
    #: Seconds from the start of that decode call to the answer's first token (``None``: not decoded).
    ttft_s: float | None = None
    #: What the token budget removed: examples, history_messages, query_tokens.
    cut: dict[str, int] = field(default_factory=dict)
    #: False when generation stopped at max_new_tokens rather than at end-of-turn.
    finished: bool = True
    adapter: str | None = None
    user_id: str | None = None
    #: The request's id.
    id: str = ""
    #: ``stop`` (the model ended its turn or hit a stop text; also escalations), ``length``
    #: (max_new_tokens) or ``cancelled`` (a streamed row whose client went away).
    finish_reason: str = "stop"
    #: Whether the turn was recorded in the conversation store (``None``: nothing to record).
    stored: bool | None = None
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
    #: The model's guarded answer a hand-off replaced after generation (not grounded enough): never
    #: sent to the customer; stored with the turn, it is what an agent's reply is preferred over.
    withheld: str | None = None
    #: What the output guardrails changed (slots_filled, redacted, leak_replaced, truncated, ...).
    guardrails: dict[str, int] = field(default_factory=dict)
    #: ``{"from_chars", "to_chars"}`` when the question was cut at ``guardrails.max_query_chars``.
    input_truncated: dict[str, int] | None = None
    #: The question's language: ``code`` (ISO 639-1, ``und`` when too short to tell), ``confidence``,
    #: ``supported`` (in ``model.languages``) and ``action`` (``escalate``/``notice`` when not).
    language: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
