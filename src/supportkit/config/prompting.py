"""What the prompt is made of: the ``prompt`` strategy settings and the ``knowledge`` base."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

from supportkit.config.base import Section
from supportkit.utils.validation import check_choice, check_fraction, check_positive, fail


@dataclass
class PromptConfig(Section):
    """Prompt strategy defaults (each call may override strategy, role and user)."""

    section: typing.ClassVar[str] = "prompt"
    #: ``auto`` (default): ``knowledge`` when ``knowledge.path`` is set, else ``few_shot`` when a
    #: few-shot bank has examples, else ``zero_shot``; or any strategy's name.
    strategy: str = "auto"
    role: str = "support_specialist"
    #: Versioned prompt set (system instructions, roles, CoT format): ``general`` (default, a
    #: neutral assistant), ``retail`` (the example online store), ``saas``, or a YAML file's path.
    prompt_set: str = "general"
    num_examples: int = 3
    #: Example selector for few-shot: ``similarity``, ``random`` or ``fixed``.
    selector: str = "similarity"
    #: MMR trade-off between relevance (1.0) and diversity; ``None`` turns MMR off.
    mmr_lambda: float | None = None
    #: Cap on prompt tokens (history and examples are cut first, the query last).
    max_prompt_tokens: int = 2048
    #: Optional few-shot bank file (JSONL of question/answer[/intent]).
    few_shot_file: str | None = None
    #: Extra roles: name -> description (merged with the built-in roles).
    custom_roles: dict[str, str] = field(default_factory=dict)
    #: Named adapter to use per role (e.g. ``billing_specialist: billing``).
    role_adapters: dict[str, str] = field(default_factory=dict)
    #: SQLite file for user profiles and conversation history (``None``: no store).
    store_path: str | None = None
    #: Append each answered turn to the user's stored history.
    remember_history: bool = True
    #: How many stored history messages a prompt may include (the budget may cut more).
    history_turns: int = 6
    #: Seconds a store operation waits for another writer (retried with backoff) before failing.
    store_timeout_s: float = 30.0
    #: Longest stored message in characters (longer is cut, with a marker); ``None``: no cap.
    store_max_message_chars: int | None = 20_000
    #: The strategies the ``combined`` strategy is composed of, in order.
    combined_parts: list[str] = field(
        default_factory=lambda: ["role_context", "knowledge", "few_shot", "cot"]
    )

    def validate(self) -> None:
        check_positive("prompt", self, "num_examples", "history_turns", allow_zero=True)
        check_positive("prompt", self, "max_prompt_tokens", "store_timeout_s")
        if self.store_max_message_chars is not None and (
            not isinstance(self.store_max_message_chars, int) or self.store_max_message_chars < 200
        ):
            fail("prompt", "store_max_message_chars", self.store_max_message_chars, "at least 200, or null")
        if self.mmr_lambda is not None:
            check_fraction("prompt", self, "mmr_lambda")
        check_choice("prompt", self, "selector", ("similarity", "random", "fixed"))
        for name in ("strategy", "role", "prompt_set"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                fail("prompt", name, value, "a non-empty name")
        if not isinstance(self.custom_roles, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in self.custom_roles.items()
        ):
            fail("prompt", "custom_roles", self.custom_roles, "a mapping of role name to text")
        parts = ("role_context", "knowledge", "few_shot", "cot", "zero_shot")
        if not self.combined_parts or any(p not in parts for p in self.combined_parts):
            fail("prompt", "combined_parts", self.combined_parts, f"a non-empty list of {', '.join(parts)}")


@dataclass
class KnowledgeConfig(Section):
    """A help-centre knowledge base for grounded answers (the ``knowledge`` strategy)."""

    section: typing.ClassVar[str] = "knowledge"
    #: A folder of Markdown/text articles or a JSONL of {title, text, url}; ``None``: no knowledge base.
    path: str | None = None
    #: Passages put in the prompt (the token budget may cut the least relevant).
    top_k: int = 3
    #: Passages less similar than this (MiniLM cosine) are never used.
    min_similarity: float = 0.3
    chunk_chars: int = 700
    overlap_chars: int = 120
    #: Fuse BM25 with the embedding score (measured: hit@1 0.89 -> 0.92, hit@3 0.98 -> 1.0).
    hybrid: bool = True
    bm25_weight: float = 0.2
    #: Distinct query terms BM25 scores at most (the rarest in the corpus are kept): bounds the cost
    #: of a very long question.
    max_query_terms: int = 64
    #: Where passage embeddings are kept (default: the supportkit cache).
    index_dir: str | None = None
    #: The sentence embedder of retrieval, few-shot selection, intent detection and groundedness:
    #: ``minilm`` (all-MiniLM-L6-v2, bundled, English), ``hashing`` (no model: tests) or a
    #: sentence-transformers model directory or cached hub id; a multilingual one (e.g.
    #: ``paraphrase-multilingual-MiniLM-L12-v2``) lets ``model.languages`` list more languages.
    embedder: str = "minilm"
    #: An answer sentence counts as supported when this similar to a passage sentence (and its
    #: numbers appear in the passages).
    support_similarity: float = 0.55
    #: End a grounded answer with "Source: <article title>" unless it already names the article.
    cite: bool = True

    def validate(self) -> None:
        check_positive("knowledge", self, "top_k", "chunk_chars", "max_query_terms")
        check_positive("knowledge", self, "overlap_chars", allow_zero=True)
        check_fraction("knowledge", self, "min_similarity", "bm25_weight", "support_similarity")
        if self.overlap_chars >= self.chunk_chars:
            fail("knowledge", "overlap_chars", self.overlap_chars, "less than knowledge.chunk_chars")
        if not isinstance(self.embedder, str) or not self.embedder.strip():
            fail(
                "knowledge",
                "embedder",
                self.embedder,
                "minilm, hashing or a sentence-transformers model path",
            )
