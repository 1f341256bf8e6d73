"""The llama.cpp peer for ``bench_decode_engines``: the bundled Q4_1 GGUF through
:mod:`benchmarks.peers.llamacpp` (``make bench-peers``), one context kept open for the whole run so
its rounds interleave with the other engines'."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any


class _Peer:
    def __init__(self, session: Any) -> None:
        self.session = session

    def generate(self, prompts: Sequence[Sequence[int]], new_tokens: int) -> tuple[float, float, float]:
        """(seconds, time to first token, decode seconds per token after the first) for ``prompts``
        decoded together, greedy, exactly ``new_tokens`` each."""
        start = time.perf_counter()
        _, ttft = self.session.generate([list(p) for p in prompts], new_tokens, stop_at_eog=False)
        total = time.perf_counter() - start
        return total, ttft, (total - ttft) / max(new_tokens - 1, 1)


def peer(model_dir: Any, *, slots: int = 16, context: int = 1024, threads: int | None = None) -> Any:
    """A peer on the bundled GGUF, or ``None`` when llama.cpp is not built (``make bench-peers``)."""
    from benchmarks.peers import llamacpp

    if not llamacpp.available():
        return None
    from supportkit.models.gguf_cache import find_bundled_gguf
    from supportkit.models.precision import available_cores

    session = llamacpp._Session(
        find_bundled_gguf("smollm2-135m-instruct"),
        n_seq=slots,
        n_ctx_seq=context,
        threads=threads or available_cores(),
        lora=None,
    )
    return _Peer(session)
