"""Peak memory per run: a run in a process that already peaked (a comparison's earlier method)
reports its own peak, not the process's."""

from __future__ import annotations

import torch

from supportkit.pipelines.training_summary import peak_memory_mb, reset_peak_memory


def test_the_peak_restarts_for_each_run() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"  # what peak_memory_mb measures
    big = torch.ones(128 * 2**20, device=device)  # 512 MB, touched
    big.add_(1)
    high = peak_memory_mb()
    del big
    reset_peak_memory()
    low = peak_memory_mb()
    assert high - low > 400, (high, low)  # the earlier 512 MB no longer counts
    assert peak_memory_mb() >= low  # and the new peak only grows from here
