"""Peak memory per run: a run in a process that already peaked (a comparison's earlier method)
reports its own peak, not the process's."""

from __future__ import annotations

import mmap
from collections.abc import Callable

import torch

from supportkit.pipelines.training_summary import peak_memory_mb, reset_peak_memory

SIZE = 512 * 2**20


def _cpu_block() -> Callable[[], None]:
    """512 MB of fresh, touched pages (an anonymous map: no allocator reuses freed memory for it)."""
    block = mmap.mmap(-1, SIZE)
    chunk = b"\1" * 2**20
    for offset in range(0, SIZE, len(chunk)):
        block[offset : offset + len(chunk)] = chunk
    return block.close


def _gpu_block() -> Callable[[], None]:
    tensor = torch.ones(SIZE // 4, device="cuda")
    return lambda: tensor.resize_(0)


def test_the_peak_restarts_for_each_run() -> None:
    release = _gpu_block() if torch.cuda.is_available() else _cpu_block()  # what peak_memory_mb measures
    high = peak_memory_mb()
    release()
    reset_peak_memory()
    low = peak_memory_mb()
    assert high - low > 400, (high, low)  # the earlier 512 MB no longer counts
