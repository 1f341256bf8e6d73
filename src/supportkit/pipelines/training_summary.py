"""The summary a training run returns, and the small measurements that go into it."""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class TrainingSummary:
    steps: int
    epochs_completed: float
    train_time_s: float
    tokens_per_s: float
    final_loss: float | None
    best_metric: float | None
    best_step: int | None
    metric_for_best: str
    peak_memory_mb: float
    trainable_params: int
    total_params: int
    world_size: int
    output_dir: str
    stopped_early: bool
    resumed_from: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        best = (
            f"{self.metric_for_best} {self.best_metric:.4f} at step {self.best_step}"
            if self.best_metric is not None
            else "-"
        )
        share = 100 * self.trainable_params / max(self.total_params, 1)
        return (
            f"{self.steps} steps ({self.epochs_completed:.2f} epochs) in {self.train_time_s:.1f} s, "
            f"{self.tokens_per_s:.0f} target tokens/s, final loss "
            f"{self.final_loss if self.final_loss is not None else float('nan'):.4f}, "
            f"best {best}, peak memory {self.peak_memory_mb:.0f} MB, trainable {self.trainable_params:,} "
            f"({share:.2f}%), {self.world_size} process(es){' (stopped early)' if self.stopped_early else ''}"
        )


def config_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def data_fingerprint(dataloader: Any) -> str:
    examples = getattr(getattr(dataloader, "dataset", None), "examples", None)
    if examples is None:
        return config_hash({"batches": len(dataloader)})
    digest = hashlib.sha256()
    for e in examples:
        digest.update(json.dumps([e.input_ids, e.labels]).encode())
    return digest.hexdigest()[:16]


def reset_peak_memory() -> None:
    """Start a new peak for :func:`peak_memory_mb`, so each run in a process (a comparison's methods)
    reports its own: CUDA's peak statistics, and on Linux the process's peak resident set size
    (``5`` written to ``/proc/self/clear_refs``, Linux >= 4.0; elsewhere the process's peak stays)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb() -> float:
    """Peak memory since :func:`reset_peak_memory` in MB: CUDA's allocated peak on a GPU, else the peak
    resident set size (``VmHWM`` of ``/proc/self/status``; ``ru_maxrss``, the process's, elsewhere)."""
    import resource

    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tensorboard_writer(directory: Path, *, purge_step: int | None = None) -> Any:
    """A TensorBoard writer under ``directory/tensorboard`` (``None`` without tensorboard);
    ``purge_step`` hides events a resumed run writes again."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(directory / "tensorboard"), purge_step=purge_step)
