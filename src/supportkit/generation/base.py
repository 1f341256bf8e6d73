"""The decoder seam: what a decode engine is given, what it returns, and how engines register.

A :class:`Decoder` turns a list of :class:`DecodeItem` (prompt token ids, adapter, the request's own
sampling settings, an optional cancel flag) into one :class:`Generated` per item, in order. The
pipeline never calls ``model.generate`` itself; engines are chosen by ``generation.engine``.

    decoder = make_decoder("hf", model, batch_size=8)
    [out] = decoder.generate([DecodeItem(ids, None, Sampling.from_config(config.generation))])
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from supportkit.config import GenerationConfig
from supportkit.registry import Registry

FinishReason = Literal["stop", "length", "cancelled"]


#: The config's generation defaults: Sampling's own defaults are read from them (one home).
_DEFAULTS = GenerationConfig()


@dataclass(frozen=True)
class Sampling:
    """Per-request decode settings (defaults: ``generation.*`` of the config)."""

    max_new_tokens: int = _DEFAULTS.max_new_tokens
    min_new_tokens: int = _DEFAULTS.min_new_tokens
    do_sample: bool = _DEFAULTS.do_sample
    temperature: float = _DEFAULTS.temperature
    top_p: float = _DEFAULTS.top_p
    repetition_penalty: float = _DEFAULTS.repetition_penalty
    #: ``generated`` (the answer so far) or ``all`` (prompt and answer); stop tokens never count.
    repetition_penalty_scope: str = _DEFAULTS.repetition_penalty_scope
    #: Sampling seed; a seeded row is decoded with its own generator state, never the global RNG.
    seed: int | None = _DEFAULTS.seed
    #: Text that ends the answer (the stop text itself is not part of it).
    stop: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, settings: GenerationConfig, **overrides: Any) -> Sampling:
        values: dict[str, Any] = {
            "max_new_tokens": settings.max_new_tokens,
            "min_new_tokens": settings.min_new_tokens,
            "do_sample": settings.do_sample,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "repetition_penalty": settings.repetition_penalty,
            "repetition_penalty_scope": settings.repetition_penalty_scope,
            "seed": settings.seed,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "stop" in values:
            values["stop"] = tuple(s for s in values["stop"] if s)
        return cls(**values)


@dataclass(frozen=True)
class DecodeItem:
    """One row to decode."""

    #: Prompt token ids (already rendered by the chat template), shape ``[prompt_tokens]``.
    input_ids: tuple[int, ...]
    #: Named adapter to decode with (``None``: the model's active one).
    adapter: str | None = None
    sampling: Sampling = field(default_factory=Sampling)
    #: Set it to stop this row at the next step (its client went away); other rows go on.
    cancel: threading.Event | None = field(default=None, compare=False)
    #: Leading prompt tokens whose K/V other rows may share through a prefix cache (``None``: all).
    #: The pipeline limits it to the system message without a customer's profile, context or
    #: history: blocks shared across clients could otherwise be time-probed for what they hold.
    shared_prefix: int | None = None


@dataclass
class Generated:
    """The decoded answer of one item."""

    text: str
    prompt_tokens: int
    generated_tokens: int
    #: True when generation stopped by itself (end-of-turn or a stop text), not at max_new_tokens.
    finished: bool
    #: ``stop`` (end-of-turn / stop text), ``length`` (max_new_tokens) or ``cancelled``.
    finish_reason: FinishReason = "stop"
    #: The generated token ids (end-of-turn excluded), shape ``[generated_tokens]``.
    token_ids: tuple[int, ...] = ()


class TextSink(Protocol):
    """Receives streamed text per item index (the index into the ``items`` given to ``generate``)."""

    def push(self, index: int, delta: str) -> None: ...

    def close(self, index: int) -> None: ...

    def fail(self, error: BaseException) -> None: ...


class Decoder(Protocol):
    """A decode engine.

    Args (of ``generate``):
        items: the rows to decode, each with its own adapter and sampling settings; an engine
            groups them as it likes but returns results in ``items`` order.
        streamer: optional :class:`TextSink`; text deltas of row ``i`` go to ``push(i, ...)``
            as they are decoded and ``close(i)`` follows its last delta.

    Returns: one :class:`Generated` per item.

    Raises: :class:`~supportkit.errors.ConfigError` for an adapter the model does not have;
    anything the backend raises (also forwarded to ``streamer.fail``).

    Thread safety: an engine instance is used by one decode worker thread at a time (the
    pipeline's); engines need not be reentrant.

    Example::

        decoder = make_decoder("hf", model, batch_size=8)
        outs = decoder.generate([DecodeItem(tuple(ids), None, Sampling(max_new_tokens=32))])
    """

    def generate(self, items: Sequence[DecodeItem], streamer: TextSink | None = None) -> list[Generated]: ...


#: Decode engines by name (``generation.engine``). A factory is called as
#: ``factory(model, batch_size=..., **options)`` with the loaded model wrapper (``.model``,
#: ``.tokenizer``) and those engine options (see :func:`make_decoder`) its signature names.
DECODERS: Registry[Any] = Registry("decode engine")


def make_decoder(name: str, model: Any, *, batch_size: int = 8, **options: Any) -> Decoder:
    """The registered engine ``name`` built for ``model``.

    ``options``: engine-specific settings (``prefix_cache_mb`` for ``static``); a factory is given
    only the ones its signature names (or all, with ``**kwargs``). Raises UnknownNameError."""
    factory = DECODERS.get(name)
    params = inspect.signature(factory).parameters
    every = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    given = {k: v for k, v in options.items() if every or k in params}
    decoder: Decoder = factory(model, batch_size=batch_size, **given)
    return decoder
