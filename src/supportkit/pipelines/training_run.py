"""The pieces of one training run: its state, the resume point, fingerprints, schedule checks."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.errors import ConfigError
from supportkit.pipelines.checkpoints import (
    CheckpointManager,
    ResumeError,
    TrainerState,
    set_aside_earlier_run,
    verify_checkpoint,
)
from supportkit.pipelines.interrupt import StopSignals
from supportkit.pipelines.metrics_log import MetricsLog
from supportkit.pipelines.training_summary import TrainingSummary, config_hash

log = logging.getLogger(__name__)

#: Training settings that do not change what is learned (a resume may change them).
_NOT_FINGERPRINTED = {
    "output_dir",
    "resume_from",
    "force_resume",
    "logging_steps",
    "eval_steps",
    "save_steps",
    "save_total_limit",
    "eval_samples",
    "early_stopping_patience",
}


def config_fingerprint(config: Config) -> str:
    """A hash of everything that decides what a run learns (model, method, training)."""
    c = config.to_dict()
    training = {k: v for k, v in c["training"].items() if k not in _NOT_FINGERPRINTED}
    keys = ("model", "peft", "lora", "adapter")
    return config_hash({**{k: c[k] for k in keys}, "training": training})


def check_schedule(total_steps: int, warmup_steps: int) -> None:
    """Raise :class:`ConfigError` when warmup covers the whole run (the learning rate would never
    reach its configured value: with ``max_steps <= warmup_steps`` a run trains at almost 0)."""
    if warmup_steps and warmup_steps >= total_steps:
        raise ConfigError(
            f"training.warmup_steps={warmup_steps} but the run has only {total_steps} optimizer steps: the "
            "learning rate would never leave warmup. Lower training.warmup_steps (about a tenth of the "
            "steps) or raise training.max_steps"
        )


@dataclass
class TrainingRun:
    """The state of one ``train`` call, shared by its parts."""

    module: Any
    optimizer: Any
    scheduler: Any
    params: list[Any]
    manager: CheckpointManager
    state: TrainerState
    total_steps: int
    window: int
    batches_per_epoch: int
    resume_path: Path | None
    metrics: MetricsLog
    signals: StopSignals
    prefix: int = 0
    writer: Any = None
    progress: Any = None
    started: float = 0.0
    tokens_at_start: int = 0
    patience_left: int | None = None
    stopped_early: bool = False
    interrupted: str | None = None
    saved_step: int = -1
    last_checkpoint: Path | None = None

    def open_outputs(self, *, main: bool, patience: int | None, writer: Any) -> None:
        """Start the clock, the progress bar and (main process) the logs; ``metrics.jsonl`` keeps
        only steps up to the resumed one, so no step is recorded twice."""
        from tqdm.auto import tqdm

        step = self.state.global_step
        if main:
            removed = self.metrics.start_at(step)
            if removed:
                log.info("metrics.jsonl: dropped %d record(s) past step %d", removed, step)
        self.writer = writer(self.metrics.path.parent, purge_step=step + 1) if main else None
        self.progress = tqdm(total=self.total_steps, initial=step, disable=not main, desc="training")
        self.started = time.perf_counter()
        self.tokens_at_start = self.state.tokens_seen
        self.patience_left = patience

    def summary(
        self, metric_for_best: str, trainable: int, total: int, world: int, peak_mb: float
    ) -> TrainingSummary:
        state = self.state
        duration = time.perf_counter() - self.started
        return TrainingSummary(
            steps=state.global_step,
            epochs_completed=state.epoch + state.batches_done / max(self.batches_per_epoch, 1),
            train_time_s=duration,
            tokens_per_s=(state.tokens_seen - self.tokens_at_start) / duration if duration else 0.0,
            final_loss=state.losses[-1] if state.losses else None,
            best_metric=state.best_metric,
            best_step=state.best_step,
            metric_for_best=metric_for_best,
            peak_memory_mb=peak_mb,
            trainable_params=trainable,
            total_params=total,
            world_size=world,
            output_dir=str(self.metrics.path.parent),
            stopped_early=self.stopped_early,
            resumed_from=str(self.resume_path) if self.resume_path else None,
        )

    @property
    def done(self) -> bool:
        return (
            self.state.global_step >= self.total_steps or self.stopped_early or self.interrupted is not None
        )


def resume_point(manager: CheckpointManager, resume_from: str | None) -> Path | None:
    """The checkpoint to resume from: ``auto`` takes the newest intact one in the output directory
    (``None`` if there is none); a path must be an intact checkpoint (:class:`ResumeError`)."""
    if not resume_from:
        return None
    if resume_from == "auto":
        latest = manager.latest()
        if latest is None:
            log.info("resume_from=auto: no checkpoint in %s, starting fresh", manager.output_dir)
        return latest
    path = Path(resume_from)
    if not (path / "trainer_state.json").is_file():
        raise ResumeError(f"{path} is not a checkpoint directory (no trainer_state.json)")
    verify_checkpoint(path)
    return path


def resume_or_start_over(
    manager: CheckpointManager, resume_from: str | None, accelerator: Any
) -> Path | None:
    """:func:`resume_point`; when there is none (a run that starts over), the main process first
    moves an earlier run's checkpoints aside (:func:`set_aside_earlier_run`) and every process
    waits for it."""
    path = resume_point(manager, resume_from)
    if path is None:
        if accelerator.is_main_process:
            set_aside_earlier_run(manager.output_dir)
        accelerator.wait_for_everyone()
    return path


def track_best(state: TrainerState, metrics: dict[str, float], name: str) -> bool:
    """Record ``metrics[name]`` as the best so far when it improved (``val_loss``: lower is better)."""
    value = metrics.get(name)
    if value is None or math.isnan(value):
        return False
    better = state.best_metric is None or (
        value < state.best_metric if name == "val_loss" else value > state.best_metric
    )
    if better:
        state.best_metric, state.best_step = value, state.global_step
    return better
