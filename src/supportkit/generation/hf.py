"""The ``hf`` decode engine: transformers' ``model.generate`` on left-padded batches.

Items are grouped by adapter and sampling settings (a seeded sampled item is decoded alone, so its
answer does not depend on what it was batched with); the engine switches adapters itself and puts
the previous one back. Stop texts and cancel flags are per row (a ``StoppingCriteria`` returning
one flag per row), so one row can end while the rest of its batch goes on. Seeding forks the RNG
(``torch.random.fork_rng``): the global torch RNG is never reseeded.

Prompts are encoded with :func:`supportkit.models.tokenizer.encode_chat`, so text inside messages
can never become special tokens.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from supportkit.config import GenerationConfig
from supportkit.errors import ConfigError
from supportkit.generation.base import DECODERS, DecodeItem, FinishReason, Generated, Sampling, TextSink
from supportkit.generation.penalty import RowStops, stop_token_ids, stop_token_safe_penalty
from supportkit.generation.streaming import RowStreamer, cut_at_stop
from supportkit.models.tokenizer import encode_chat


def _sampling(settings: GenerationConfig | Sampling) -> Sampling:
    return settings if isinstance(settings, Sampling) else Sampling.from_config(settings)


def generation_kwargs(
    settings: GenerationConfig | Sampling, tokenizer: Any, prompt_width: int | None = None
) -> dict[str, Any]:
    """``model.generate`` keyword arguments for ``settings``.

    ``prompt_width`` (the padded prompt length, tokens) lets the repetition penalty skip the
    prompt (``repetition_penalty_scope: generated``; ``all`` is the default). Either way the stop
    tokens (end-of-turn, eos, padding) are never penalised: the ``<|im_end|>`` closing every prompt
    turn would otherwise push the model past its natural end.
    """
    s = _sampling(settings)
    kwargs: dict[str, Any] = {
        "max_new_tokens": s.max_new_tokens,
        "min_new_tokens": s.min_new_tokens or None,
        "do_sample": s.do_sample,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if s.repetition_penalty != 1.0:
        if s.repetition_penalty_scope == "generated" and prompt_width is None:
            raise ValueError("repetition_penalty_scope 'generated' needs the prompt width")
        from transformers import LogitsProcessorList

        skip = (prompt_width or 0) if s.repetition_penalty_scope == "generated" else 0
        kwargs["logits_processor"] = LogitsProcessorList(
            [stop_token_safe_penalty(s.repetition_penalty, skip, stop_token_ids(tokenizer))]
        )
    if s.do_sample:
        kwargs.update(temperature=s.temperature, top_p=s.top_p)
    else:  # silence warnings about sampling settings that greedy decoding ignores
        kwargs.update(temperature=None, top_p=None, top_k=None)
    return kwargs


def generate_chat(
    model: Any,
    tokenizer: Any,
    messages: Sequence[Mapping[str, str]],
    settings: GenerationConfig | Sampling | None = None,
) -> Generated:
    """Generate the assistant's next turn for ``messages`` (greedy unless settings say otherwise).

    ``model`` is the torch module (``PreTrainedModel``/PEFT), not a supportkit wrapper.
    """
    ids = encode_chat(tokenizer, messages, add_generation_prompt=True)
    return generate_ids(model, tokenizer, [ids], settings or GenerationConfig())[0]


def generate_ids(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    settings: GenerationConfig | Sampling,
    *,
    streamer: TextSink | None = None,
    cancels: Sequence[threading.Event | None] | None = None,
    stops: Sequence[Sequence[str]] | None = None,
    indices: Sequence[int] | None = None,
) -> list[Generated]:
    """One batched ``model.generate`` call over ``prompts`` (one settings for all rows).

    Args:
        model: the torch module.
        prompts: ``batch`` lists of prompt token ids (any lengths; left-padded to
            ``[batch, width]`` with an attention mask of the same shape).
        settings: decode settings shared by the rows (``stop`` texts are applied per row).
        streamer: receives each row's text as it is decoded, under ``indices[row]`` (default the
            row number).
        cancels: per-row flags; a set flag ends that row at the next step (``finish_reason``
            ``cancelled``).
        stops: per-row stop texts (default: ``settings.stop`` for every row).

    Returns: one :class:`Generated` per prompt; its text is cut at end-of-turn or a stop text.
    """
    import torch

    if not prompts:
        return []
    s = _sampling(settings)
    rows = len(prompts)
    indices = list(indices) if indices is not None else list(range(rows))
    cancels = list(cancels) if cancels is not None else [None] * rows
    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device
    input_ids = torch.full((rows, width), pad, dtype=torch.long)
    attention = torch.zeros((rows, width), dtype=torch.long)
    for row, ids in enumerate(prompts):
        input_ids[row, width - len(ids) :] = torch.tensor(list(ids), dtype=torch.long)
        attention[row, width - len(ids) :] = 1
    stops = [tuple(x) for x in stops] if stops is not None else [s.stop] * rows
    row_streamer = RowStreamer(tokenizer, indices, streamer, stops) if streamer is not None else None
    kwargs = generation_kwargs(s, tokenizer, prompt_width=width)
    if any(stops) or any(c is not None for c in cancels):
        from transformers import StoppingCriteriaList

        kwargs["stopping_criteria"] = StoppingCriteriaList([RowStops(tokenizer, width, stops, cancels)])
    try:
        with _seeded(s, device), torch.inference_mode():
            out = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                streamer=row_streamer,
                **kwargs,
            )
    except BaseException as exc:
        if streamer is not None:
            streamer.fail(exc)
        raise
    results = []
    eos = tokenizer.eos_token_id
    for row, ids in enumerate(prompts):
        new = out[row, width:].tolist()
        reason: FinishReason = "length"
        if eos in new:
            new, reason = new[: new.index(eos)], "stop"
        else:
            while new and new[-1] == pad:
                new.pop()  # a row ended by its stopping criteria is padded to the batch's length
        text = tokenizer.decode(new, skip_special_tokens=True)
        text, stopped = cut_at_stop(text, stops[row])
        if stopped:
            reason = "stop"
        elif reason == "length" and cancels[row] is not None and cancels[row].is_set():  # type: ignore[union-attr]
            reason = "cancelled"
        results.append(
            Generated(
                text=text.strip(),
                prompt_tokens=len(ids),
                generated_tokens=len(new),
                finished=reason == "stop",
                finish_reason=reason,
                token_ids=tuple(new),
            )
        )
    return results


@contextmanager
def _seeded(s: Sampling, device: Any) -> Iterator[None]:
    """Seed a forked RNG for a seeded sampled decode (the global RNG state is restored after)."""
    if not (s.do_sample and s.seed is not None):
        yield
        return
    import torch

    devices = [device] if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(s.seed)
        yield


@DECODERS.register("hf")
class HFDecoder:
    """Decode with transformers' ``generate`` on the model wrapper's torch module.

    Args:
        model: a loaded supportkit model (``.model`` torch module, ``.tokenizer``; with named
            adapters also ``set_adapter``/``active_adapter``).
        batch_size: most rows per ``generate`` call.

    Raises (from ``generate``): ConfigError when an item names an adapter the model lacks.

    Example::

        decoder = HFDecoder(PEFTModel(config), batch_size=8)
        outs = decoder.generate([DecodeItem(tuple(ids), "billing", Sampling(max_new_tokens=64))])

    Not reentrant: the pipeline calls it from its single decode worker thread.
    """

    def __init__(self, model: Any, *, batch_size: int = 8) -> None:
        self.wrapper, self.batch_size = model, batch_size

    def generate(self, items: Sequence[DecodeItem], streamer: TextSink | None = None) -> list[Generated]:
        results: dict[int, Generated] = {}
        for adapter, sampling, group in self._groups(items):
            with self._adapter(adapter):
                module, tokenizer = self.wrapper.model, self.wrapper.tokenizer
                for start in range(0, len(group), self.batch_size):
                    chunk = group[start : start + self.batch_size]
                    outs = generate_ids(
                        module,
                        tokenizer,
                        [items[i].input_ids for i in chunk],
                        sampling,
                        streamer=streamer,
                        cancels=[items[i].cancel for i in chunk],
                        stops=[items[i].sampling.stop for i in chunk],
                        indices=chunk,
                    )
                    results.update(zip(chunk, outs, strict=True))
        return [results[i] for i in range(len(items))]

    def _groups(self, items: Sequence[DecodeItem]) -> list[tuple[str | None, Sampling, list[int]]]:
        """Rows sharing adapter and settings (stop texts are per row), sorted by prompt length."""
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, item in enumerate(items):
            s = item.sampling
            alone = i if s.do_sample and s.seed is not None else None
            groups.setdefault((item.adapter, replace(s, stop=()), alone), []).append(i)
        out = []
        for (adapter, sampling, _), rows in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[1][0])):
            rows.sort(key=lambda i: len(items[i].input_ids))
            out.append((adapter, sampling, rows))
        return out

    @contextmanager
    def _adapter(self, adapter: str | None) -> Iterator[None]:
        if adapter is None:
            yield
            return
        if not hasattr(self.wrapper, "set_adapter"):
            raise ConfigError(f"adapter {adapter!r} requested but the model has no named adapters")
        previous = self.wrapper.active_adapter
        self.wrapper.set_adapter(adapter)
        try:
            yield
        finally:
            self.wrapper.set_adapter(previous)
