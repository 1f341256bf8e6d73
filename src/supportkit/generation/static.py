"""The ``static`` decode engine: a step loop over a slot KV cache, with rows joining and leaving.

Each :meth:`StaticDecoder.step` first prefills the rows waiting to join (one forward per row, into
free slots: no padding), then runs one forward for every running row (each at its own position).

A row leaves at once when it ends: end-of-turn (``eos``), a stop text, ``max_new_tokens``, or its
cancel flag. Per-step Python is sampling, the repetition penalty and stop checks.

Automatic prefix caching (:mod:`~supportkit.generation.prefix_cache`, ``generation.prefix_cache_mb``):
a joining row's longest cached run of whole 16-token prompt blocks (same tokens from position 0,
same adapter) is copied into its slot and only the rest of the prompt is computed, attending to
the copied prefix; its new whole blocks are then cached. Served prompts share the system
instructions and often the retrieved articles, so most prefill is skipped. Before each admission
the engine compares a fingerprint of the module's weights and adapters
(:func:`~supportkit.generation.prefix_cache.module_fingerprint`) and empties the cache when it
changed (an adapter loaded, deleted, replaced, merged or trained), so K/V is never stale.
Counters: ``decoder.prefix_cache.stats()`` (``None`` when the budget is 0).

Continuous use (the server's engine thread owns the decoder and calls ``step``)::

    decoder = StaticDecoder(model, batch_size=8)
    future = decoder.add(DecodeItem(tuple(ids), None, Sampling(max_new_tokens=64)), sink, index=0)
    while decoder.busy:
        decoder.step()
    print(future.result().text)

Batch use is the :class:`~supportkit.generation.base.Decoder` protocol: ``generate(items, streamer)``.

Semantics match the ``hf`` engine: greedy tokens are the same (tests compare them), the repetition
penalty is transformers' (divide positive logits, multiply negative ones) over the generated tokens
(scope ``generated``) or prompt and generated (``all``), never on stop tokens; ``min_new_tokens``
masks ``eos``; sampling applies temperature, the model's ``top_k`` and ``top_p`` as ``generate``
does. Adapters: each row runs with its own (``item.adapter``, else the model's active one) through
PEFT's per-row ``adapter_names``; when every row uses the active adapter no hooks are installed.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from supportkit.config import GenerationConfig
from supportkit.errors import ConfigError
from supportkit.generation.base import DECODERS, DecodeItem, FinishReason, Generated, TextSink
from supportkit.generation.penalty import stop_token_ids
from supportkit.generation.prefix_cache import PrefixCache, module_fingerprint
from supportkit.generation.slots import SlotModel
from supportkit.generation.streaming import NullSink, RowStreamer, cut_at_stop


@dataclass(eq=False)
class _Row:
    item: DecodeItem
    adapter: str | None
    sink: TextSink
    streamer: RowStreamer
    future: Future[Generated] = field(default_factory=Future)
    cancel: threading.Event = field(default_factory=threading.Event)
    tokens: list[int] = field(default_factory=list)
    position: int = 0  # tokens held in the cache
    next: int = -1  # the sampled token not yet in the cache
    generator: Any = None
    reason: FinishReason | None = None


def gather(futures: Sequence[Future[Generated]]) -> Future[list[Generated]]:
    """One future holding every result in order (the first failure fails it)."""
    out: Future[list[Generated]] = Future()
    left = [len(futures)]
    lock = threading.Lock()

    def done(one: Future[Generated]) -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
            if out.done():
                return
            error = one.exception()
            if error is not None:
                out.set_exception(error)
            elif last:
                out.set_result([f.result() for f in futures])

    if not futures:
        out.set_result([])
    for f in futures:
        f.add_done_callback(done)
    return out


@DECODERS.register("static")
class StaticDecoder:
    """Step-level decoding with a slot KV cache (see the module docstring).

    Args:
        model: a loaded supportkit model (``.model`` torch module, ``.tokenizer``; named adapters
            optional). Llama-family only.
        batch_size: slots: most rows decoding at once (more wait to join).
        prefix_cache_mb: the prefix cache's budget in MB (``generation.prefix_cache_mb``; 0: off;
            default: the config's default). Its counters: ``decoder.prefix_cache.stats()``.

    Raises: ConfigError for a model architecture the engine does not run (at the first decode) or an
    adapter the model lacks (from :meth:`add`/:meth:`generate`); ValueError for a negative budget.

    Thread safety: :meth:`add` and :meth:`cancel` from any thread; :meth:`step` and
    :meth:`generate` from one thread at a time (a lock serialises them).
    """

    def __init__(self, model: Any, *, batch_size: int = 8, prefix_cache_mb: float | None = None) -> None:
        self.wrapper, self.batch_size = model, batch_size
        if prefix_cache_mb is None:
            prefix_cache_mb = GenerationConfig().prefix_cache_mb
        if not 0 <= prefix_cache_mb < float("inf"):
            raise ValueError(f"prefix_cache_mb must be a number of MB >= 0, not {prefix_cache_mb}")
        #: Prompt-prefix K/V blocks shared by rows (``None`` when ``prefix_cache_mb`` is 0).
        self.prefix_cache = PrefixCache(int(prefix_cache_mb * (1 << 20))) if prefix_cache_mb > 0 else None
        self._weights: Any = None  # module_fingerprint of the module the cached blocks were computed with
        self.tokenizer = model.tokenizer
        self.eos = self.tokenizer.eos_token_id
        self.exempt = stop_token_ids(self.tokenizer)
        self._rows: list[_Row] = []
        self._waiting: deque[_Row] = deque()
        self._lock = threading.Lock()  # guards _waiting
        self._step_lock = threading.Lock()
        self._slots: SlotModel | None = None
        self._module: Any = None
        self._seen: Any = None  # [slots, vocab] bool: tokens the penalty counts per row

    # --- continuous API ------------------------------------------------------------------------------
    def add(self, item: DecodeItem, sink: TextSink | None = None, index: int = 0) -> Future[Generated]:
        """Queue ``item`` to join at the next step; its text goes to ``sink`` under ``index``.

        Returns: a future set with the row's :class:`Generated` when it ends (or its error).
        Raises: ConfigError when ``item.adapter`` is not one of the model's adapters."""
        adapter = self._adapter(item.adapter)
        stream_sink: TextSink = sink if sink is not None else NullSink()
        streamer = RowStreamer(self.tokenizer, [index], stream_sink, [item.sampling.stop])
        row = _Row(item, adapter, stream_sink, streamer)
        with self._lock:
            self._waiting.append(row)
        return row.future

    def cancel(self, future: Future[Generated]) -> None:
        """End the row behind ``future`` at the next step (``finish_reason`` ``cancelled``)."""
        with self._lock:
            rows = list(self._waiting) + list(self._rows)
        for row in rows:
            if row.future is future:
                row.cancel.set()

    @property
    def running(self) -> int:
        """Rows decoding now."""
        return len(self._rows)

    @property
    def waiting(self) -> int:
        """Rows queued to join."""
        with self._lock:
            return len(self._waiting)

    @property
    def busy(self) -> bool:
        return bool(self._rows) or self.waiting > 0

    def step(self) -> None:
        """Admit waiting rows (one prefill), then decode one token for every running row.

        Raises: what the model raises; every running and joining row then fails with it."""
        import torch

        with self._step_lock, torch.inference_mode():
            joining: list[_Row] = []
            try:
                slots = self._ready()
                with self._lock:
                    while self._waiting and len(self._rows) + len(joining) < self.batch_size:
                        joining.append(self._waiting.popleft())
                joining = [r for r in joining if not self._cancelled(r)]
                if joining:
                    self._admit(slots, joining)
                    joining = []
                self._retire()
                if self._rows:
                    rows = self._rows
                    names = self._names(rows)
                    logits = slots.decode([r.next for r in rows], [r.position for r in rows], names)
                    for r in rows:
                        r.position += 1
                    self._advance(rows, logits)
                    self._retire()
            except BaseException as exc:
                self._fail(self._rows + joining, exc)
                raise

    # --- the Decoder protocol ------------------------------------------------------------------------
    def generate(self, items: Sequence[DecodeItem], streamer: TextSink | None = None) -> list[Generated]:
        for item in items:
            self._adapter(item.adapter)
        futures = [self.add(item, streamer, i) for i, item in enumerate(items)]
        try:
            while not all(f.done() for f in futures):
                self.step()
        except BaseException as exc:
            if streamer is not None:
                streamer.fail(exc)
            raise
        return [f.result() for f in futures]

    # --- internals -------------------------------------------------------------------------------------
    def _adapter(self, name: str | None) -> str | None:
        if name is None:
            return None
        names = list(getattr(self.wrapper, "adapter_names", []) or [])
        if name not in names:
            raise ConfigError(f"adapter {name!r} requested but the model has only {names or 'no adapters'}")
        return name

    def _names(self, rows: Sequence[_Row]) -> list[str] | None:
        active = getattr(self.wrapper, "active_adapter", None)
        if all(r.adapter in (None, active) for r in rows):
            return None
        return [r.adapter or active for r in rows]  # type: ignore[misc]

    def _ready(self) -> SlotModel:
        module = self.wrapper.model
        if self._slots is None or (module is not self._module and not self._rows):
            import torch

            self._slots, self._module = SlotModel(module, self.batch_size), module
            if self.prefix_cache is not None:
                self.prefix_cache.clear()
                self._weights = None
            vocab = self._slots.lm.get_output_embeddings().weight.shape[0]
            self._seen = torch.zeros((self.batch_size, vocab), dtype=torch.bool)
        return self._slots

    @staticmethod
    def _flagged(row: _Row) -> bool:
        return row.cancel.is_set() or (row.item.cancel is not None and row.item.cancel.is_set())

    def _cancelled(self, row: _Row) -> bool:
        """Finish a joining row whose cancel flag is set (it never decodes)."""
        if self._flagged(row):
            row.reason = "cancelled"
            self._finish(row)
            return True
        return False

    def _admit(self, slots: SlotModel, joining: list[_Row]) -> None:
        import torch

        first = len(self._rows)
        cache = self.prefix_cache
        if cache is not None:
            weights = module_fingerprint(self._module)
            if weights != self._weights:  # an adapter or the weights changed: no stale K/V
                cache.clear()
                self._weights = weights
        logits = torch.cat([self._prefill(slots, first + i, row) for i, row in enumerate(joining)])
        for i, row in enumerate(joining):
            s = row.item.sampling
            row.position = len(row.item.input_ids)
            self._seen[first + i].zero_()
            if s.repetition_penalty_scope == "all":
                self._seen[first + i, list(row.item.input_ids)] = True
            if s.do_sample and s.seed is not None:
                row.generator = torch.Generator().manual_seed(s.seed)
        self._rows.extend(joining)
        self._advance(joining, logits, offset=first)

    def _prefill(self, slots: SlotModel, slot: int, row: _Row) -> Any:
        """Encode ``row``'s prompt into ``slot``: cached prefix blocks are copied, the rest computed;
        then its new whole blocks are cached. Returns logits ``[1, vocab]``."""
        import torch

        prompt = row.item.input_ids
        names = self._names([row])
        cache = self.prefix_cache
        if cache is None:
            return slots.extend(slot, prompt, 0, names)
        adapter = row.adapter or getattr(self.wrapper, "active_adapter", None)
        shared = row.item.shared_prefix
        start, blocks = cache.lookup(prompt, adapter, shared)
        if blocks:
            slots.write(slot, 0, torch.cat(blocks, dim=3))
        logits = slots.extend(slot, prompt[start:], start, names)
        cache.insert(
            prompt if shared is None else prompt[:shared], adapter, lambda a, b: slots.read(slot, a, b)
        )
        return logits

    def _advance(self, rows: Sequence[_Row], logits: Any, offset: int = 0) -> None:
        """Pick each row's next token from ``logits`` ``[len(rows), vocab]`` and stream it."""
        import torch

        n = len(rows)
        seen = self._seen[offset : offset + n]
        penalty = torch.tensor([r.item.sampling.repetition_penalty for r in rows]).view(n, 1)
        for i, r in enumerate(rows):
            if len(r.tokens) < r.item.sampling.min_new_tokens and self.eos is not None:
                logits[i, self.eos] = float("-inf")
        if bool((penalty != 1.0).any()):
            hit = seen.clone()
            hit[:, self.exempt] = False
            scaled = torch.where(logits < 0, logits * penalty, logits / penalty)
            logits = torch.where(hit, scaled, logits)
        picked = logits.argmax(dim=-1).tolist()
        for i, r in enumerate(rows):
            if r.item.sampling.do_sample:
                picked[i] = self._sample(logits[i], r)
        seen[torch.arange(n), torch.tensor(picked)] = True
        for r, token in zip(rows, picked, strict=True):
            r.next = token
            if token == self.eos:
                r.reason = "stop"
                continue
            r.tokens.append(token)
            r.streamer.add(0, token)
            if r.streamer.done(0):
                r.reason = "stop"
            elif len(r.tokens) >= r.item.sampling.max_new_tokens or r.position + 1 >= self._max_positions():
                r.reason = "length"

    def _sample(self, logits: Any, row: _Row) -> int:
        import torch

        s = row.item.sampling
        scores = logits / s.temperature
        top_k = int(getattr(getattr(self._slots.lm, "generation_config", None), "top_k", 0) or 0)  # type: ignore[union-attr]
        if 0 < top_k < scores.shape[-1]:
            kth = torch.topk(scores, top_k).values[-1]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        if s.top_p < 1.0:
            ordered, order = torch.sort(scores, descending=False)
            cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
            remove = cumulative <= (1 - s.top_p)
            remove[-1] = False
            scores = scores.masked_fill(remove.scatter(0, order, remove), float("-inf"))
        probs = scores.softmax(dim=-1)
        return int(torch.multinomial(probs, 1, generator=row.generator).item())

    def _max_positions(self) -> int:
        return self._slots.max_positions if self._slots is not None else 1 << 30

    def _retire(self) -> None:
        """Finish ended or cancelled rows and compact the slots (the last row fills each hole)."""
        slots = self._slots
        for slot in range(len(self._rows) - 1, -1, -1):
            row = self._rows[slot]
            if row.reason is None and self._flagged(row):
                row.reason = "cancelled"
            if row.reason is None:
                continue
            self._finish(row)
            last = len(self._rows) - 1
            if slot != last and slots is not None:
                moved = self._rows[last]
                slots.move(last, slot, moved.position)
                self._seen[slot] = self._seen[last]
                self._rows[slot] = moved
            self._rows.pop()

    def _finish(self, row: _Row) -> None:
        row.streamer.finish(0)
        text, stopped = cut_at_stop(
            self.tokenizer.decode(row.tokens, skip_special_tokens=True), row.item.sampling.stop
        )
        reason: FinishReason = "stop" if stopped else (row.reason or "length")
        if not row.future.done():
            row.future.set_result(
                Generated(
                    text=text.strip(),
                    prompt_tokens=len(row.item.input_ids),
                    generated_tokens=len(row.tokens),
                    finished=reason == "stop",
                    finish_reason=reason,
                    token_ids=tuple(row.tokens),
                )
            )

    def _fail(self, rows: Sequence[_Row], exc: BaseException) -> None:
        sinks: dict[int, TextSink] = {}
        for row in rows:
            sinks[id(row.sink)] = row.sink
            if not row.future.done():
                row.future.set_exception(exc)
        for sink in sinks.values():
            sink.fail(exc)
        self._rows = []
