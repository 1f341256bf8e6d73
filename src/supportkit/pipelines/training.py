"""``TrainingPipeline``: fine-tune any adaptation method with accelerate, on 1..N processes.

    trainer = TrainingPipeline(model, config)
    summary = trainer.train(train_dataloader, val_dataloader)
    model.save_model("./checkpoints/my_model")

* Accumulation is exact: every micro-batch's summed token loss is divided by the number of target
  tokens in the whole accumulation window, on all processes together, so k micro-batches of size b
  update the weights like one batch of k x b, and 2 processes like 1 with twice the accumulation.
* Checkpoints (``checkpoints.py``) are atomic, verified on resume, and resume exactly (the same
  per-step losses and final weights). SIGINT/SIGTERM finish the step, save, raise TrainingInterrupted.
* Scale-out: the same entry point under ``torchrun --nproc_per_node N`` or ``accelerate launch``.

``train`` is ``_setup`` (accelerator, resume, optimizer, schedule), ``_step`` (one optimizer step),
``_after_step`` (log, evaluate, record, save), ``_finish`` (the summary).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.errors import ConfigError
from supportkit.pipelines.callbacks import Callback
from supportkit.pipelines.checkpoints import (
    CheckpointManager,
    ResumeError,
    TrainerState,
    set_rng_state,
    writing,
)
from supportkit.pipelines.interrupt import StopSignals, TrainingInterrupted
from supportkit.pipelines.loss import IGNORE, token_loss_sum, virtual_prefix
from supportkit.pipelines.metrics_log import MetricsLog
from supportkit.pipelines.train_eval import evaluation_metrics
from supportkit.pipelines.training_run import (
    TrainingRun,
    check_schedule,
    config_fingerprint,
    resume_or_start_over,
    track_best,
)
from supportkit.pipelines.training_summary import (
    TrainingSummary,
    data_fingerprint,
    peak_memory_mb,
    reset_peak_memory,
    tensorboard_writer,
)

log = logging.getLogger(__name__)


class TrainingPipeline:
    """Fine-tunes ``model`` (a :class:`~supportkit.models.peft.PEFTModel`) per ``config.training``.

    Args:
        model: the model whose trainable parameters are trained (adapters, or all for ``full``).
        config: defaults to ``model.config``; validated here (:class:`ConfigError`).
        callbacks: :class:`Callback` instances (custom loss, metrics, hooks).

    ``train`` raises :class:`ResumeError` for a checkpoint that cannot be resumed,
    :class:`ConfigError` for a run that cannot train (nothing trainable, too little data, warmup
    longer than the run), :class:`~supportkit.errors.WriteError` when output cannot be written and
    :class:`TrainingInterrupted` after saving on SIGINT/SIGTERM.
    """

    def __init__(
        self, model: Any, config: Config | None = None, *, callbacks: Sequence[Callback] = ()
    ) -> None:
        self.model = model
        self.config = config if config is not None else model.config
        self.config.validate()
        self.callbacks = list(callbacks)
        self.accelerator: Any = None

    # --- the loop --------------------------------------------------------------------------------------
    def train(
        self, train_dataloader: Any, val_dataloader: Any = None, *, resume_from: str | None = None
    ) -> TrainingSummary:
        """Train until ``max_steps`` (or ``num_epochs``), early stopping, or a signal."""
        import torch

        run = self._setup(train_dataloader, resume_from)
        try:
            with run.signals:
                while not run.done:
                    sampler: Any = getattr(train_dataloader, "batch_sampler", None)
                    if hasattr(sampler, "set_epoch"):
                        sampler.set_epoch(run.state.epoch)
                    # A torch DataLoader draws a seed from the global RNG when an iterator starts; a
                    # resumed run starts one at another moment, so keep it off the global RNG.
                    with torch.random.fork_rng(devices=[]):
                        batches = iter(train_dataloader)
                    self._epoch(run, batches, val_dataloader)
        finally:
            run.progress.close()
            if run.writer is not None:
                run.writer.close()
        if run.interrupted is not None and run.state.global_step < run.total_steps:
            where = f"checkpoint {run.last_checkpoint}" if run.last_checkpoint else "a checkpoint"
            raise TrainingInterrupted(
                f"training stopped by {run.interrupted} at step {run.state.global_step} of "
                f"{run.total_steps}; {where} saved in {run.manager.output_dir}. Run the same command "
                "with --resume auto (training.resume_from=auto) to continue",
                step=run.state.global_step,
                checkpoint=str(run.last_checkpoint) if run.last_checkpoint else None,
            )
        return self._finish(run)

    def _epoch(self, run: TrainingRun, batches: Any, val_dataloader: Any) -> None:
        """The rest of the current epoch (batches before ``state.batches_done`` were trained on)."""
        state, world = run.state, self.accelerator.num_processes
        pending: list[dict[str, Any]] = []
        for index, batch in enumerate(batches):
            if index < state.batches_done:
                continue  # already trained on before the resume
            pending.append(batch)
            if len(pending) == run.window:
                state.batches_done = index + 1
                self._after_step(run, self._step(run, pending), val_dataloader)
                pending = []
                if run.done:
                    return
        if pending and world == 1:
            state.batches_done = run.batches_per_epoch
            self._after_step(run, self._step(run, pending), val_dataloader)
        elif pending:
            log.info(
                "rank %d: %d trailing micro-batches do not fill a step and are skipped",
                self.accelerator.process_index,
                len(pending),
            )
        if not run.done:
            state.epoch += 1
            state.batches_done = 0

    # --- setup -----------------------------------------------------------------------------------------
    def _setup(self, train_dataloader: Any, resume_from: str | None) -> TrainingRun:
        """Accelerator, resume point, optimizer, schedule and outputs of one run."""
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState
        from accelerate.utils import set_seed

        t = self.config.training
        cpu = not self.config.model.device.startswith("cuda") and self.config.model.device != "auto"
        # accelerate keeps one process-wide state; a second run in this process (a comparison, a
        # notebook) with another mixed precision would be refused. Reset it, keeping the process
        # group (PartialState) of a multi-process launch.
        AcceleratorState._reset_state(reset_partial_state=False)
        accelerator = self.accelerator = Accelerator(mixed_precision=t.mixed_precision, cpu=cpu)
        set_seed(t.seed)
        reset_peak_memory()  # this run's own peak, not an earlier run's in this process
        manager = CheckpointManager(
            t.output_dir, keep_last=t.save_total_limit, greater_is_better=t.metric_for_best != "val_loss"
        )
        state = TrainerState(
            data_fingerprint=data_fingerprint(train_dataloader),
            config_fingerprint=config_fingerprint(self.config),
            world_size=accelerator.num_processes,
        )
        resume_path = resume_or_start_over(manager, resume_from or t.resume_from, accelerator)
        tensors: dict[str, Any] = {}
        if resume_path is not None:
            state, tensors = self._resume(manager, resume_path, state)
        run = self._build(train_dataloader, manager, state, resume_path)
        if tensors:
            run.optimizer.load_state_dict(tensors["optimizer"])
            run.scheduler.load_state_dict(tensors["scheduler"])
            set_rng_state(tensors["rng"])
        run.open_outputs(
            main=accelerator.is_main_process, patience=t.early_stopping_patience, writer=tensorboard_writer
        )
        for cb in self.callbacks:
            cb.on_train_begin(self, state)
        return run

    def _build(
        self, train_dataloader: Any, manager: CheckpointManager, state: TrainerState, resume: Path | None
    ) -> TrainingRun:
        """Trainable parameters, optimizer, schedule (checked) and the run that holds them."""
        import torch
        from transformers import get_scheduler

        t, accelerator = self.config.training, self.accelerator
        world = accelerator.num_processes
        module = self.model.model
        if t.gradient_checkpointing:
            module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            module.config.use_cache = False
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ConfigError("nothing to train: the model has no trainable parameters (peft.method=none?)")
        optimizer = torch.optim.AdamW(params, lr=t.learning_rate, weight_decay=t.weight_decay)
        window = world * t.gradient_accumulation_steps
        batches = len(train_dataloader)
        steps_per_epoch = batches // window if world > 1 else math.ceil(batches / window)
        if steps_per_epoch == 0:
            raise ConfigError(
                f"{batches} batches cannot fill one step of {window} micro-batches: add data or lower "
                "training.gradient_accumulation_steps / training.batch_size"
            )
        total = t.max_steps or steps_per_epoch * t.num_epochs
        check_schedule(total, t.warmup_steps)
        scheduler = get_scheduler(
            t.lr_scheduler, optimizer, num_warmup_steps=t.warmup_steps, num_training_steps=total
        )
        module, optimizer = accelerator.prepare(module, optimizer)
        run = TrainingRun(
            module=module,
            optimizer=optimizer,
            scheduler=scheduler,
            params=params,
            manager=manager,
            state=state,
            total_steps=total,
            window=window,
            batches_per_epoch=batches,
            resume_path=resume,
            metrics=MetricsLog(Path(t.output_dir) / "metrics.jsonl"),
            signals=StopSignals(),
            prefix=virtual_prefix(self.model.model),
        )
        log.info(
            "rank %d/%d: training %d steps (%d per epoch, %d micro-batches each)",
            accelerator.process_index,
            world,
            total,
            steps_per_epoch,
            window,
        )
        return run

    def _resume(
        self, manager: CheckpointManager, path: Path, fresh: TrainerState
    ) -> tuple[TrainerState, dict[str, Any]]:
        saved, tensors = manager.load(path)
        problems = [
            name
            for name, a, b in (
                ("training data", saved.data_fingerprint, fresh.data_fingerprint),
                ("config", saved.config_fingerprint, fresh.config_fingerprint),
            )
            if a != b
        ]
        if problems and not self.config.training.force_resume:
            raise ResumeError(
                f"{path} was trained with different {' and '.join(problems)}; resuming would not "
                "continue the same run. Use the original data/config, or set training.force_resume=true"
            )
        try:
            self.model.load_model(path / "adapter")  # weights first: the optimizer binds to them
        except Exception as exc:
            raise ResumeError(f"cannot load the weights of checkpoint {path / 'adapter'}: {exc}") from exc
        saved.world_size = fresh.world_size
        log.info("resuming from %s at step %d", path, saved.global_step)
        return saved, tensors

    # --- one step --------------------------------------------------------------------------------------
    def _step(self, run: TrainingRun, micro_batches: list[dict[str, Any]]) -> dict[str, Any]:
        """One optimizer step over a window of micro-batches (this rank takes every N-th one);
        returns the step's record (loss, learning rate, tokens/s)."""
        import torch

        acc, t, state = self.accelerator, self.config.training, run.state
        world = acc.num_processes
        n_total = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in micro_batches)
        mine = micro_batches[acc.process_index :: world]
        run.module.train()
        local = 0.0
        step_start = time.perf_counter()
        for j, batch in enumerate(mine):
            batch = {k: v.to(acc.device) for k, v in batch.items()}
            sync = contextlib.nullcontext() if j == len(mine) - 1 else acc.no_sync(run.module)
            with sync, acc.autocast():
                loss_sum, _ = self._loss(run.module, batch, run.prefix)
                # DDP averages gradients over processes, hence x world: the sum over all
                # micro-batches of the window, divided once by all its target tokens.
                acc.backward(loss_sum / max(n_total, 1) * world)
            local += float(loss_sum.detach())
        if t.max_grad_norm:
            acc.clip_grad_norm_(run.params, t.max_grad_norm)
        run.optimizer.step()
        run.scheduler.step()
        run.optimizer.zero_grad(set_to_none=True)
        # one reduction: the loss, and whether any process was asked to stop
        stop = 1.0 if run.signals.received else 0.0
        summed = acc.reduce(torch.tensor([local, stop], device=acc.device), "sum")
        if float(summed[1]) > 0:
            run.interrupted = run.signals.received or "a signal (on another process)"
        step_loss = float(summed[0]) / max(n_total, 1)
        state.global_step += 1
        state.tokens_seen += n_total
        state.losses.append(step_loss)
        elapsed = time.perf_counter() - step_start
        return {
            "step": state.global_step,
            "epoch": state.epoch,
            "loss": step_loss,
            "learning_rate": run.scheduler.get_last_lr()[0],
            "tokens_per_s": n_total / elapsed if elapsed else 0.0,
        }

    def _after_step(self, run: TrainingRun, record: dict[str, Any], val_dataloader: Any) -> None:
        """Log, call back, evaluate (early stopping), record, and save when it is time."""
        t, state, acc = self.config.training, run.state, self.accelerator
        final = state.global_step == run.total_steps
        if state.global_step % t.logging_steps == 0 or final:
            log.info(
                "rank %d/%d step %d loss %.4f lr %.2e %.0f tok/s",
                acc.process_index,
                acc.num_processes,
                state.global_step,
                record["loss"],
                record["learning_rate"],
                record["tokens_per_s"],
            )
        for cb in self.callbacks:
            cb.on_step_end(self, state, record)
        if val_dataloader is not None and t.eval_steps and (state.global_step % t.eval_steps == 0 or final):
            evaluated = self._evaluate(run.module, val_dataloader, state)
            record.update({f"eval_{k}": v for k, v in evaluated.items()})
            improved = track_best(state, evaluated, t.metric_for_best)
            if t.early_stopping_patience is not None:
                run.patience_left = t.early_stopping_patience if improved else (run.patience_left or 0) - 1
                run.stopped_early = run.patience_left is not None and run.patience_left <= 0
        if acc.is_main_process:
            run.metrics.append(record)
            if run.writer is not None:
                for key, value in record.items():
                    if isinstance(value, float):
                        run.writer.add_scalar(key, value, state.global_step)
        run.progress.update(1)
        run.progress.set_postfix(
            loss=f"{record['loss']:.4f}",
            lr=f"{record['learning_rate']:.1e}",
            tok_s=f"{record['tokens_per_s']:.0f}",
        )
        if acc.num_processes == 1 and run.signals.received:  # several processes agree in _step
            run.interrupted = run.signals.received
        periodic = bool(t.save_steps) and state.global_step % (t.save_steps or 1) == 0
        if periodic or final or run.stopped_early or run.interrupted:
            self._save(run)

    def _finish(self, run: TrainingRun) -> TrainingSummary:
        """Wait for every process, write ``summary.json`` and call ``on_train_end``."""
        t, acc = self.config.training, self.accelerator
        acc.wait_for_everyone()
        trainable, total = self.model.trainable_parameters()
        summary = run.summary(t.metric_for_best, trainable, total, acc.num_processes, peak_memory_mb())
        if acc.is_main_process:
            path = Path(t.output_dir) / "summary.json"
            with writing(path):
                path.write_text(json.dumps(summary.to_dict(), indent=2), encoding="utf-8")
        for cb in self.callbacks:
            cb.on_train_end(self, summary)
        run.module.eval()
        return summary

    # --- pieces ----------------------------------------------------------------------------------------
    def _loss(self, module: Any, batch: dict[str, Any], prefix: int) -> tuple[Any, int]:
        for cb in self.callbacks:
            custom = cb.compute_loss(self, module, batch)
            if custom is not None:
                return custom
        return token_loss_sum(
            module, batch, logits_only_on_labels=self.config.training.logits_only_on_labels, prefix=prefix
        )

    def _evaluate(self, module: Any, val_dataloader: Any, state: TrainerState) -> dict[str, float]:
        acc, samples = self.accelerator, self.config.training.eval_samples
        metrics = evaluation_metrics(
            module, val_dataloader, acc, self.model.tokenizer, samples, self.config.generation
        )
        for cb in self.callbacks:
            metrics.update(cb.on_evaluate(self, state, metrics) or {})
        state.evaluations.append({"step": state.global_step, **metrics})
        log.info(
            "step %d evaluation: %s", state.global_step, ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        )
        return metrics

    def _save(self, run: TrainingRun) -> None:
        acc = self.accelerator
        acc.wait_for_everyone()
        if acc.is_main_process:
            path = run.manager.save(self.model, run.optimizer, run.scheduler, run.state)
            run.last_checkpoint = path
            for cb in self.callbacks:
                cb.on_save(self, run.state, path)
        run.saved_step = run.state.global_step
        acc.wait_for_everyone()
