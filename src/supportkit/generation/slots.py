"""A Llama-family forward over the model's own modules with a slot KV cache (the ``static`` engine's core).

The cache holds one slot per running row, compacted: rows ``0..rows-1`` are live, so attention
reads a view of the cache, never a gathered copy. Each row has its own length (position), so rows
that joined at different steps decode together: per-row position ids for the rotary embedding and a
per-row key mask.

The forward calls the model's modules (``q_proj``..``o_proj``, ``mlp``, norms, ``lm_head``), so
PEFT's injected LoRA layers apply; with ``adapter_names`` (one per row) PEFT's mixed-batch hooks
pick each row's adapter.

Shapes: ``[slots, kv_heads, capacity, head_dim]`` per layer for keys and values; ``capacity`` grows
in steps of :data:`GROW` tokens (a copy, rare).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from supportkit.errors import ConfigError

#: Cache capacity grows in steps of this many tokens.
GROW = 256
#: ``config.model_type`` values whose decoder layers this forward reproduces exactly.
SUPPORTED = ("llama",)


def unwrap(module: Any) -> tuple[Any, Any]:
    """``(causal_lm, peft_model_or_None)`` of a torch module (a PeftModel or a transformers model).

    Raises: ConfigError when the architecture is not Llama-family or the PEFT method is not one
    that works through injected layers (prompt learning needs ``generation.engine: hf``)."""
    peft = None
    if hasattr(module, "get_base_model") and hasattr(module, "peft_config"):
        peft = module
        for name, cfg in module.peft_config.items():
            if getattr(cfg, "is_prompt_learning", False):
                raise ConfigError(
                    f"adapter {name!r} is a prompt-learning method, which the static engine cannot run; "
                    "set generation.engine: hf"
                )
        module = module.get_base_model()
    if getattr(module, "adapters_config", None) is not None:
        raise ConfigError(
            "bottleneck adapters (the adapters library) change the layers' own forward, which the static "
            "engine does not call; set generation.engine: hf"
        )
    kind = getattr(getattr(module, "config", None), "model_type", None)
    inner = getattr(module, "model", None)
    if (
        kind not in SUPPORTED
        or inner is None
        or not hasattr(inner, "layers")
        or not hasattr(module, "lm_head")
    ):
        raise ConfigError(
            f"the static decode engine supports {', '.join(SUPPORTED)} models, not {kind!r}; "
            "set generation.engine: hf"
        )
    return module, peft


def unsupported(module: Any) -> str | None:
    """Why the static engine cannot run ``module`` (a torch module), or ``None`` when it can."""
    try:
        unwrap(module)
    except ConfigError as exc:
        return str(exc)
    return None


class SlotModel:
    """The model forward with a compacted slot cache.

    Args:
        module: the torch module (PeftModel or ``LlamaForCausalLM``), in eval mode.
        slots: most rows at once.

    Raises: ConfigError (see :func:`unwrap`).
    """

    def __init__(self, module: Any, slots: int) -> None:
        import torch

        self.lm, self.peft = unwrap(module)
        cfg = self.lm.config
        self.layers = list(self.lm.model.layers)
        self.heads = cfg.num_attention_heads
        self.kv_heads = getattr(cfg, "num_key_value_heads", None) or self.heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads
        self.max_positions = int(getattr(cfg, "max_position_embeddings", 1 << 30))
        param = next(self.lm.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.slots, self.capacity = slots, 0
        self.k: list[Any] = []
        self.v: list[Any] = []
        self._torch = torch
        self._grow(GROW)

    # --- cache -------------------------------------------------------------------------------------
    def _grow(self, need: int) -> None:
        torch = self._torch
        new = max(self.capacity + GROW, -(-need // GROW) * GROW)
        if new > self.max_positions + GROW:
            raise ValueError(f"a row needs {need} positions; the model has {self.max_positions}")
        shape = (self.slots, self.kv_heads, new, self.head_dim)
        for cache in (self.k, self.v):
            for i in range(len(self.layers)):
                fresh = torch.zeros(shape, dtype=self.dtype, device=self.device)
                if cache and self.capacity:
                    fresh[:, :, : self.capacity] = cache[i]
                if len(cache) > i:
                    cache[i] = fresh
                else:
                    cache.append(fresh)
        self.capacity = new

    def move(self, src: int, dst: int, length: int) -> None:
        """Copy slot ``src``'s first ``length`` positions into slot ``dst`` (compaction)."""
        for cache in (self.k, self.v):
            for layer in cache:
                layer[dst, :, :length] = layer[src, :, :length]

    # --- forward -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _adapters(self, names: Sequence[str] | None) -> Iterator[None]:
        if names is None or self.peft is None:
            yield
            return
        with self.peft._enable_peft_forward_hooks(adapter_names=list(names)):
            yield

    def prefill(self, first: int, prompts: Sequence[Sequence[int]], adapters: Sequence[str] | None) -> Any:
        """Encode ``prompts`` (right-padded, one forward) into slots ``first..first+n-1``.

        The engine admits rows one at a time with :meth:`extend` instead (no padding, prefix cache);
        ``benchmarks/bench_prefix_cache.py`` measures this one against it.

        Returns: next-token logits, ``[n, vocab]`` float32 (at each prompt's last token).
        """
        torch = self._torch
        n, width = len(prompts), max(len(p) for p in prompts)
        if first + n > self.slots:
            raise ValueError(f"{first + n} rows exceed the engine's {self.slots} slots")
        if width > self.capacity:
            self._grow(width)
        ids = torch.zeros((n, width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, : len(prompt)] = torch.tensor(list(prompt), dtype=torch.long)
        positions = torch.arange(width, device=self.device).expand(n, width)
        lengths = torch.tensor([len(p) - 1 for p in prompts], device=self.device)
        with self._adapters(adapters):
            hidden = self._layers(ids.to(self.device), positions, slice(first, first + n), None)
            last = hidden[torch.arange(n, device=self.device), lengths]
            return self.lm.lm_head(self.lm.model.norm(last)).float()

    def extend(self, slot: int, tokens: Sequence[int], start: int, adapters: Sequence[str] | None) -> Any:
        """Encode ``tokens`` at positions ``start..start+len-1`` of slot ``slot``, attending to the
        slot's cached positions ``[0, start)`` (written by :meth:`write`) and to themselves causally.

        ``start == 0`` is a plain one-row prefill. ``adapters``: ``None`` or ``[name]``.

        Returns: next-token logits ``[1, vocab]`` float32 (at the last token).
        Raises: ValueError when ``slot`` is out of range, ``tokens`` is empty or the positions exceed
        the model's.
        """
        torch = self._torch
        t = len(tokens)
        if not 0 <= slot < self.slots or t == 0:
            raise ValueError(f"slot {slot} of {self.slots} with {t} tokens: need a slot in range and tokens")
        end = start + t
        if end > self.capacity:
            self._grow(end)
        ids = torch.tensor([list(tokens)], dtype=torch.long, device=self.device)
        positions = torch.arange(start, end, device=self.device).view(1, t)
        # query i (position start+i) sees keys 0..start+i
        mask = None
        if start:
            keys = torch.arange(end, device=self.device).view(1, end)
            mask = keys <= positions.view(t, 1)  # [t, end]
        with self._adapters(adapters):
            hidden = self._layers(ids, positions, slice(slot, slot + 1), mask, start)
            return self.lm.lm_head(self.lm.model.norm(hidden[:, -1])).float()

    def write(self, slot: int, start: int, kv: Any) -> None:
        """Put ``kv`` ``[2, layers, kv_heads, n, head_dim]`` (keys, values) at positions
        ``[start, start+n)`` of slot ``slot``."""
        end = start + kv.shape[3]
        if end > self.capacity:
            self._grow(end)
        for i in range(len(self.layers)):
            self.k[i][slot, :, start:end] = kv[0, i]
            self.v[i][slot, :, start:end] = kv[1, i]

    def read(self, slot: int, start: int, end: int) -> Any:
        """A copy of slot ``slot``'s keys and values at positions ``[start, end)``:
        ``[2, layers, kv_heads, end-start, head_dim]`` in the model's dtype."""
        torch = self._torch
        return torch.stack(
            [torch.stack([c[slot, :, start:end] for c in cache]) for cache in (self.k, self.v)]
        )

    def decode(self, tokens: Sequence[int], positions: Sequence[int], adapters: Sequence[str] | None) -> Any:
        """One step for rows ``0..len(tokens)-1``: token ``tokens[r]`` at position ``positions[r]``.

        Returns: next-token logits, ``[rows, vocab]`` float32.
        """
        torch = self._torch
        rows = len(tokens)
        top = max(positions) + 1
        if top > self.capacity:
            self._grow(top)
        ids = torch.tensor(list(tokens), dtype=torch.long, device=self.device).view(rows, 1)
        pos = torch.tensor(list(positions), dtype=torch.long, device=self.device).view(rows, 1)
        mask = torch.arange(top, device=self.device).view(1, top) <= pos  # [rows, top]
        with self._adapters(adapters):
            hidden = self._layers(ids, pos, pos.view(-1), mask.view(rows, 1, 1, top))
            return self.lm.lm_head(self.lm.model.norm(hidden[:, -1])).float()

    def _layers(self, ids: Any, positions: Any, where: Any, mask: Any, start: int = 0) -> Any:
        """Run every decoder layer. ``where`` is a slot slice (prefill: the tokens at positions
        ``start..``, causal; with ``start > 0`` attending to the cached ``[0, start)`` too through
        ``mask`` ``[t, start+t]``) or the per-row positions ``[rows]`` of a one-token step (``mask``
        ``[rows, 1, 1, top]``)."""
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        torch = self._torch
        f = torch.nn.functional
        x = self.lm.model.embed_tokens(ids)
        cos, sin = self.lm.model.rotary_emb(x, positions)
        b, t = ids.shape
        rows = torch.arange(b, device=self.device)
        for i, layer in enumerate(self.layers):
            attn = layer.self_attn
            h = layer.input_layernorm(x)
            q = attn.q_proj(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            k = attn.k_proj(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
            v = attn.v_proj(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            if isinstance(where, slice):  # prefill: store the tokens, attend causally (and to a prefix)
                self.k[i][where, :, start : start + t] = k
                self.v[i][where, :, start : start + t] = v
                if start:
                    keys, values = self.k[i][where, :, : start + t], self.v[i][where, :, : start + t]
                    out = f.scaled_dot_product_attention(q, keys, values, attn_mask=mask, enable_gqa=True)
                else:
                    out = f.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            else:  # one step: store the new position, attend to each row's cache
                self.k[i][rows, :, where] = k[:, :, 0]
                self.v[i][rows, :, where] = v[:, :, 0]
                out = self._attend(
                    q, self.k[i][:b, :, : mask.shape[-1]], self.v[i][:b, :, : mask.shape[-1]], mask
                )
            x = x + attn.o_proj(out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return x

    def _attend(self, q: Any, keys: Any, values: Any, mask: Any) -> Any:
        """One-token attention with grouped heads and no copy of the cache.

        ``q`` ``[rows, heads, 1, head_dim]``; ``keys``/``values`` ``[rows, kv_heads, top, head_dim]``
        (views of the cache); ``mask`` ``[rows, 1, 1, top]`` (True: attend). The query heads sharing
        a key/value head form one ``[group, head_dim]`` block, so keys are read once per kv head
        (transformers repeats them ``group`` times). Returns ``[rows, heads, 1, head_dim]``."""
        rows, group = q.shape[0], self.heads // self.kv_heads
        grouped = q.reshape(rows, self.kv_heads, group, self.head_dim)
        scores = (grouped @ keys.transpose(-1, -2)).float() * self.head_dim**-0.5  # [rows, kv, group, top]
        scores = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        out = scores.to(values.dtype) @ values  # [rows, kv, group, head_dim]
        return out.reshape(rows, self.heads, 1, self.head_dim)
