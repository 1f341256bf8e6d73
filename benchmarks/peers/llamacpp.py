"""llama.cpp as the decoding peer: ``llama-cpp-python`` from the ``make bench-peers`` cache.

The peer is never a project dependency: ``scripts/build_peers.sh`` builds it once (CPU only, trimmed)
into ``$SUPPORTKIT_PEERS_DIR`` (default ``~/.cache/supportkit/peers``)/``llama_cpp_python-<version>``
and this module puts that directory on ``sys.path`` when asked. Everything goes through llama.cpp's
C API (``llama_batch``): several sequences decode in one ``llama_decode`` per step, like a server.

    from benchmarks.peers.llamacpp import available, measure_llamacpp, greedy_llamacpp
    if available():
        figures = measure_llamacpp(gguf, prompt_ids, new_tokens=48, batch_sizes=(1, 4, 8, 16), threads=2)
        figures["batch1"]["decode_ms_per_token"], figures["aggregate"][8]["tokens_per_s"]
        tokens = greedy_llamacpp(gguf, prompt_ids, new_tokens=32, lora=lora_gguf)

Prompts are token ids (the same ids every engine in a run decodes), generation is greedy and, for the
timings, fixed-length (end-of-generation tokens are not stopped at, as ``min_new_tokens`` does).
"""

from __future__ import annotations

import ctypes
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The llama-cpp-python version ``make bench-peers`` builds (scripts/build_peers.sh).
VERSION = "0.3.36"


def peer_dir() -> Path:
    """Where ``make bench-peers`` puts llama-cpp-python (built when it holds ``.built``)."""
    root = os.environ.get("SUPPORTKIT_PEERS_DIR") or Path.home() / ".cache" / "supportkit" / "peers"
    return Path(root) / f"llama_cpp_python-{VERSION}"


def available() -> bool:
    """Whether the peer is built (``make bench-peers``)."""
    return (peer_dir() / ".built").is_file()


def load() -> Any:
    """The ``llama_cpp`` module from the peer cache; RuntimeError (with the command) when not built."""
    if not available():
        raise RuntimeError(
            f"llama-cpp-python is not built in {peer_dir()}: run `make bench-peers` (long, once)"
        )
    if str(peer_dir()) not in sys.path:
        sys.path.insert(0, str(peer_dir()))
    import llama_cpp

    global _QUIET
    if _QUIET is None:  # llama.cpp logs every load to stderr; keep the callback alive for the process
        _QUIET = llama_cpp.llama_log_callback(lambda _level, _text, _data: None)
        llama_cpp.llama_log_set(_QUIET, ctypes.c_void_p(0))
    return llama_cpp


_QUIET: Any = None


def built_on() -> str | None:
    """When the peer was built (UTC), or None."""
    stamp = peer_dir() / ".built"
    return stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else None


class _Session:
    """One llama.cpp model + context able to hold ``n_seq`` sequences of up to ``n_ctx_seq`` tokens."""

    def __init__(self, gguf: Path, *, n_seq: int, n_ctx_seq: int, threads: int, lora: Path | None) -> None:
        self.lib = lib = load()
        lib.llama_backend_init()
        mparams = lib.llama_model_default_params()
        self.model = lib.llama_model_load_from_file(str(gguf).encode(), mparams)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {gguf}")
        self.vocab = lib.llama_model_get_vocab(self.model)
        self.n_vocab = lib.llama_vocab_n_tokens(self.vocab)
        cparams = lib.llama_context_default_params()
        cparams.n_ctx = n_seq * n_ctx_seq
        cparams.n_batch = cparams.n_ubatch = n_seq * n_ctx_seq
        cparams.n_seq_max = n_seq
        cparams.kv_unified = True
        cparams.n_threads = cparams.n_threads_batch = threads
        cparams.no_perf = True
        self.ctx = lib.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a context")
        self.adapter = None
        if lora is not None:
            self.adapter = lib.llama_adapter_lora_init(self.model, str(lora).encode())
            if not self.adapter:
                raise RuntimeError(f"llama.cpp could not load the LoRA {lora}")
            adapters = (lib.llama_adapter_lora_p_ctypes * 1)(self.adapter)
            scales = (ctypes.c_float * 1)(1.0)
            if lib.llama_set_adapters_lora(self.ctx, adapters, 1, scales) != 0:
                raise RuntimeError(f"llama.cpp refused the LoRA {lora}")
        self.batch = lib.llama_batch_init(n_seq * n_ctx_seq, 0, n_seq)

    def close(self) -> None:
        lib = self.lib
        lib.llama_batch_free(self.batch)
        lib.llama_free(self.ctx)
        if self.adapter is not None:
            lib.llama_adapter_lora_free(self.adapter)
        lib.llama_model_free(self.model)

    def _decode(self, items: list[tuple[int, int, int, bool]]) -> None:
        """items: (token, position, sequence, wants logits)."""
        b = self.batch
        for i, (token, pos, seq, logits) in enumerate(items):
            b.token[i] = token
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = logits
        b.n_tokens = len(items)
        rc = self.lib.llama_decode(self.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def _argmax(self, index: int) -> int:
        import numpy as np

        row = np.ctypeslib.as_array(self.lib.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,))
        return int(row.argmax())

    def generate(
        self, prompts: Sequence[Sequence[int]], new_tokens: int, *, stop_at_eog: bool
    ) -> tuple[list[list[int]], float]:
        """Greedy continuations of ``prompts`` decoded together; returns (tokens, seconds to first token)."""
        self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), True)
        start = time.perf_counter()
        items, last = [], []
        for seq, prompt in enumerate(prompts):
            for pos, token in enumerate(prompt):
                items.append((int(token), pos, seq, pos == len(prompt) - 1))
            last.append(len(items) - 1)
        self._decode(items)  # prefill, every prompt in one batch
        out = [[self._argmax(i)] for i in last]
        ttft = time.perf_counter() - start
        active = [s for s in range(len(prompts)) if not (stop_at_eog and self._eog(out[s][-1]))]
        for step in range(1, new_tokens):
            if not active:
                break
            self._decode([(out[s][-1], len(prompts[s]) + step - 1, s, True) for s in active])
            for i, s in enumerate(active):
                out[s].append(self._argmax(i))
            active = [s for s in active if not (stop_at_eog and self._eog(out[s][-1]))]
        return out, ttft

    def _eog(self, token: int) -> bool:
        return bool(self.lib.llama_vocab_is_eog(self.vocab, token))


@contextmanager
def _session(gguf: str | Path, **kwargs: Any) -> Iterator[_Session]:
    session = _Session(Path(gguf), **kwargs)
    try:
        yield session
    finally:
        session.close()


def measure_llamacpp(
    gguf_path: str | Path,
    prompts: Sequence[Sequence[int]],
    *,
    new_tokens: int = 48,
    batch_sizes: Sequence[int] = (1, 4, 8, 16),
    threads: int = 2,
    repeats: int = 3,
    lora: str | Path | None = None,
) -> dict[str, Any]:
    """Decode timings of llama.cpp on ``gguf_path`` (optionally with a LoRA GGUF).

    ``prompts``: token-id lists; batch ``n`` decodes the first ``n`` (cycled when fewer), greedy,
    exactly ``new_tokens`` each. Rounds are interleaved (every batch size once per round, after one
    warm-up round). Returns::

        {"engine": "llama.cpp (llama-cpp-python 0.3.36)", "gguf": str, "threads": int, "new_tokens": int,
         "batch1": {"ttft_s": median s, "decode_ms_per_token": median ms (tokens after the first)},
         "aggregate": {n: {"seconds": median s per call, "tokens_per_s": n * new_tokens / seconds}},
         "repeats": int}

    Raises RuntimeError when the peer is not built or llama.cpp refuses the files.
    """
    sizes = sorted(set(batch_sizes) | {1})
    rows = [list(prompts[i % len(prompts)]) for i in range(max(sizes))]
    n_ctx_seq = max(len(r) for r in rows) + new_tokens + 8
    ttfts: list[float] = []
    decode: list[float] = []
    seconds: dict[int, list[float]] = {n: [] for n in sizes}
    with _session(gguf_path, n_seq=max(sizes), n_ctx_seq=n_ctx_seq, threads=threads, lora=lora) as s:
        for round_ in range(repeats + 1):
            for n in sizes:
                start = time.perf_counter()
                _, ttft = s.generate(rows[:n], new_tokens, stop_at_eog=False)
                elapsed = time.perf_counter() - start
                if round_ == 0:
                    continue  # warm-up
                seconds[n].append(elapsed)
                if n == 1:
                    ttfts.append(ttft)
                    decode.append((elapsed - ttft) / max(new_tokens - 1, 1))
    return {
        "engine": f"llama.cpp (llama-cpp-python {VERSION})",
        "gguf": str(gguf_path),
        "lora": str(lora) if lora else None,
        "threads": threads,
        "new_tokens": new_tokens,
        "repeats": repeats,
        "batch1": {
            "ttft_s": statistics.median(ttfts),
            "decode_ms_per_token": 1000 * statistics.median(decode),
        },
        "aggregate": {
            n: {"seconds": statistics.median(v), "tokens_per_s": n * new_tokens / statistics.median(v)}
            for n, v in seconds.items()
        },
    }


def greedy_llamacpp(
    gguf_path: str | Path,
    prompts: Sequence[Sequence[int]],
    *,
    new_tokens: int = 32,
    threads: int = 2,
    lora: str | Path | None = None,
) -> list[list[int]]:
    """llama.cpp's greedy continuation of each prompt (one at a time, stopping at end-of-generation)."""
    n_ctx_seq = max(len(p) for p in prompts) + new_tokens + 8
    with _session(gguf_path, n_seq=1, n_ctx_seq=n_ctx_seq, threads=threads, lora=lora) as s:
        return [s.generate([list(p)], new_tokens, stop_at_eog=True)[0][0] for p in prompts]


def logits_llamacpp(
    gguf_path: str | Path, prompt: Sequence[int], *, threads: int = 2, lora: str | Path | None = None
) -> Any:
    """llama.cpp's next-token logits after ``prompt`` (a float32 numpy vector of the vocabulary size)."""
    import numpy as np

    with _session(gguf_path, n_seq=1, n_ctx_seq=len(prompt) + 8, threads=threads, lora=lora) as s:
        s.lib.llama_memory_clear(s.lib.llama_get_memory(s.ctx), True)
        s._decode([(int(t), i, 0, i == len(prompt) - 1) for i, t in enumerate(prompt)])
        row = np.ctypeslib.as_array(s.lib.llama_get_logits_ith(s.ctx, -1), shape=(s.n_vocab,))
        return row.copy()
