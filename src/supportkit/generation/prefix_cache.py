"""Automatic prefix caching: the K/V of prompt prefixes, kept in fixed blocks (vLLM's APC).

A prompt is split into blocks of :data:`BLOCK` tokens. Block ``b``'s key is a hash chain:
``sha256(key(b - 1) + token ids of b)``, rooted in the adapter the row runs with (LoRA changes
q/k/v, so the same tokens have other K/V per adapter; the base is ``None``). Equal keys therefore
mean the same tokens from position 0 under the same adapter, so a block's K/V can be copied into
another row's cache unchanged (positions are absolute: rotary embedding is applied before
caching). Only whole blocks are cached; a lookup leaves at least one prompt token to compute,
because the next-token logits come from the last one.

The cache knows nothing about weights: whoever owns it calls :meth:`PrefixCache.clear` when the
model or an adapter changes (the static engine compares a fingerprint of its module before each
lookup, see :func:`module_fingerprint`). Blocks are evicted least recently used first to stay
under ``max_bytes``; a chain's later blocks are evicted before its earlier ones (a lookup touches
them last to first), because a block is only reachable through its parents.

Counters follow vLLM's ``prefix_cache_queries`` / ``prefix_cache_hits``: prompt tokens looked up,
and tokens found cached.

    cache = PrefixCache(max_bytes=256 << 20)
    m, blocks = cache.lookup(prompt_ids, adapter=None)   # m tokens cached (a multiple of BLOCK)
    ...                                                  # copy blocks, compute prompt_ids[m:]
    cache.insert(prompt_ids, None, read=lambda start, end: kv_of_positions(start, end))
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: Tokens per cached block (vLLM's default block size).
BLOCK = 16


@dataclass(frozen=True)
class PrefixCacheStats:
    """A snapshot of a :class:`PrefixCache` (counters are cumulative; ``clear`` keeps them)."""

    #: Prompt tokens looked up (vLLM's ``prefix_cache_queries``).
    queries: int
    #: Of those, tokens whose K/V came from the cache (vLLM's ``prefix_cache_hits``).
    hits: int
    #: Blocks held now, and their bytes.
    blocks: int
    bytes: int
    #: The byte budget.
    max_bytes: int
    #: Blocks evicted to stay under the budget (``clear`` does not count).
    evictions: int

    @property
    def hit_rate(self) -> float:
        """``hits / queries`` (0.0 before any lookup)."""
        return self.hits / self.queries if self.queries else 0.0


def block_keys(tokens: Sequence[int], adapter: str | None, blocks: int | None = None) -> list[bytes]:
    """The chain keys of the first ``blocks`` whole blocks of ``tokens`` (default: all whole ones)."""
    count = len(tokens) // BLOCK if blocks is None else min(blocks, len(tokens) // BLOCK)
    parent = hashlib.sha256(b"adapter:" + repr(adapter).encode()).digest()
    keys = []
    for b in range(count):
        chunk = array("q", tokens[b * BLOCK : (b + 1) * BLOCK]).tobytes()
        parent = hashlib.sha256(parent + chunk).digest()
        keys.append(parent)
    return keys


class PrefixCache:
    """Least-recently-used block cache of prompt-prefix K/V under a byte budget.

    Args:
        max_bytes: most bytes of blocks held (``>= 0``; 0 holds nothing but still counts queries).

    A block is any object with a ``nbytes`` attribute (the static engine stores one tensor
    ``[2, layers, kv_heads, BLOCK, head_dim]`` per block, in the model's dtype).

    Thread safety: every method takes an internal lock, so :meth:`stats` may be read from any
    thread while the engine thread looks up and inserts.

    Raises: ValueError for a negative ``max_bytes``.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, not {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._blocks: OrderedDict[bytes, Any] = OrderedDict()  # oldest first
        self._bytes = 0
        self._queries = self._hits = self._evictions = 0
        self._lock = threading.Lock()

    def lookup(
        self, tokens: Sequence[int], adapter: str | None, shared: int | None = None
    ) -> tuple[int, list[Any]]:
        """The longest cached chain of whole blocks at the start of ``tokens`` for ``adapter``, within
        the first ``shared`` tokens (``None``: all). Counts ``len(tokens)`` queries and the hits, and
        makes the found blocks the most recently used.

        At least one token is left uncached (at most ``(len(tokens) - 1) // BLOCK`` blocks).

        Returns: ``(m, blocks)``: ``m = len(blocks) * BLOCK`` tokens are cached, ``blocks`` in order.
        """
        most = (len(tokens) - 1) // BLOCK
        if shared is not None:
            most = min(most, max(shared, 0) // BLOCK)
        keys = block_keys(tokens, adapter, most) if tokens else []
        with self._lock:
            found = list(itertools.takewhile(lambda k: k in self._blocks, keys))
            for key in reversed(found):  # parents end up more recent than their children
                self._blocks.move_to_end(key)
            self._queries += len(tokens)
            self._hits += len(found) * BLOCK
            return len(found) * BLOCK, [self._blocks[k] for k in found]

    def insert(self, tokens: Sequence[int], adapter: str | None, read: Callable[[int, int], Any]) -> int:
        """Cache the whole blocks of ``tokens`` not held yet.

        ``read(start, end)`` returns the K/V of token positions ``[start, end)`` as one block object
        (called once per missing block, in order). Room is made by evicting other prompts' least
        recently used blocks, never this prompt's own: when only those are left, the remaining
        blocks are not cached (a chain's head is worth more than its tail, which needs the head).

        Returns: the number of blocks added.
        """
        keys = block_keys(tokens, adapter)
        own = set(keys)
        added = 0
        for b, key in enumerate(keys):
            with self._lock:
                if key in self._blocks:
                    continue
            block = read(b * BLOCK, (b + 1) * BLOCK)
            with self._lock:
                if key in self._blocks:
                    continue
                if not self._make_room(block.nbytes, own):
                    break
                self._blocks[key] = block
                self._bytes += block.nbytes
                added += 1
        with self._lock:  # parents more recent than children, as after a lookup
            for key in reversed(keys):
                if key in self._blocks:
                    self._blocks.move_to_end(key)
        return added

    def _make_room(self, nbytes: int, keep: set[bytes]) -> bool:
        """Evict least recently used blocks outside ``keep`` until ``nbytes`` more fit (lock held);
        evicts nothing when they could not fit even then."""
        if self._bytes + nbytes > self.max_bytes:
            kept = sum(self._blocks[k].nbytes for k in keep if k in self._blocks)
            if kept + nbytes > self.max_bytes:
                return False
        while self._bytes + nbytes > self.max_bytes:
            victim = next((k for k in self._blocks if k not in keep), None)
            if victim is None:
                return False
            self._bytes -= self._blocks.pop(victim).nbytes
            self._evictions += 1
        return True

    def clear(self) -> None:
        """Drop every block (the model or an adapter changed); counters are kept."""
        with self._lock:
            self._blocks.clear()
            self._bytes = 0

    def stats(self) -> PrefixCacheStats:
        """A consistent snapshot of the counters and size (any thread)."""
        with self._lock:
            return PrefixCacheStats(
                queries=self._queries,
                hits=self._hits,
                blocks=len(self._blocks),
                bytes=self._bytes,
                max_bytes=self.max_bytes,
                evictions=self._evictions,
            )


_serials = itertools.count(1)


def module_fingerprint(module: Any) -> tuple[Any, ...]:
    """A value that changes whenever ``module``'s weights may have changed (torch module).

    Per parameter: a serial stamped on the tensor object the first time it is seen (so a parameter
    deleted and re-created under the same name, even at the same address, differs), ``id``, the
    storage address (``.data = ...`` swaps it) and the version counter (every in-place write through
    the parameter: optimizer steps, ``load_state_dict``, ``copy_``); plus every PEFT layer's
    ``merged_adapters`` (a merge writes through ``.data``, which bypasses the version counter).
    An in-place edit through ``param.data`` by other code is the one change it cannot see: call
    :meth:`PrefixCache.clear` after one.
    """
    parts: list[Any] = []
    for sub in module.modules():  # one pass; __dict__ reads (a module's __getattr__ is slow)
        state = sub.__dict__
        merged = state.get("merged_adapters")
        if merged:
            parts.append(("merged", tuple(merged)))
        for param in state.get("_parameters", {}).values():
            if param is None:
                continue
            serial = param.__dict__.get("_supportkit_serial")
            if serial is None:
                serial = param._supportkit_serial = next(_serials)
            try:
                version = param._version
            except RuntimeError:  # an inference-mode tensor has no version counter (nor in-place writes)
                version = None
            parts.append((serial, id(param), param.data_ptr(), version))
        if "_disable_adapters" in state:  # a PEFT layer: adapters switched off, LoRA scales
            scaling = state.get("scaling")
            scales = tuple(sorted(scaling.items())) if isinstance(scaling, dict) else scaling
            parts.append((state["_disable_adapters"], scales))
    return tuple(parts)
