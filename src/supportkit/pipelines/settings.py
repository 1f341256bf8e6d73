"""The pipeline's settings, unpacked from :class:`~supportkit.config.Config` once when it is built.

A frozen value: requests read it without locks, and changing the ``Config`` object afterwards does
not change a running pipeline (build a new one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from supportkit.config import Config
from supportkit.generation import Sampling


@dataclass(frozen=True)
class PipelineSettings:
    #: Default strategy and role (a request may name its own).
    strategy: str
    role: str
    custom_roles: Mapping[str, str]
    #: Adapter per role (``prompt.role_adapters``).
    role_adapters: Mapping[str, str]
    #: Stored turns put in the prompt when a request brings no history.
    history_turns: int
    max_prompt_tokens: int
    #: Default decode settings of a request.
    sampling: Sampling
    #: Text that ends a streamed answer (``guardrails.stop_sequences``).
    stop_sequences: tuple[str, ...]
    max_chars: int | None
    leak_min_words: int
    leak_message: str
    handoff_message: str
    min_groundedness: float
    cite: bool
    #: Rows per decode call, and which engine decodes.
    batch_size: int
    engine: str
    remember_history: bool
    #: Input checks: longest question (characters), the supported languages and what happens to a
    #: question in another (``escalate`` or ``notice``, see ``guardrails.unsupported_language``).
    max_query_chars: int
    languages: tuple[str, ...]
    unsupported_language: str
    language_notice: str

    @classmethod
    def from_config(cls, config: Config) -> PipelineSettings:
        p, g, k, gen = config.prompt, config.guardrails, config.knowledge, config.generation
        return cls(
            strategy=p.strategy,
            role=p.role,
            custom_roles=MappingProxyType(dict(p.custom_roles)),
            role_adapters=MappingProxyType(dict(p.role_adapters)),
            history_turns=p.history_turns,
            max_prompt_tokens=p.max_prompt_tokens,
            sampling=Sampling.from_config(gen),
            stop_sequences=tuple(s for s in g.stop_sequences if s),
            max_chars=g.max_chars,
            leak_min_words=g.leak_min_words,
            leak_message=g.leak_message,
            handoff_message=g.handoff_message,
            min_groundedness=g.min_groundedness,
            cite=k.cite,
            batch_size=gen.batch_size,
            engine=gen.engine,
            remember_history=p.remember_history,
            max_query_chars=g.max_query_chars,
            languages=tuple(config.model.languages),
            unsupported_language=g.unsupported_language if g.escalation else "notice",
            language_notice=g.language_notice,
        )
