"""``TrainingPipeline``: fine-tune any adaptation method with accelerate, on 1..N processes.

    trainer = TrainingPipeline(model, config)
    summary = trainer.train(train_dataloader, val_dataloader)
    model.save_model("./checkpoints/my_model")

* Accumulation is exact: every micro-batch's summed token loss is divided by the number of target
  tokens in the whole accumulation window, on all processes together, so k micro-batches of size b
  update the weights like one batch of k x b, and 2 processes like 1 with twice the accumulation.
* Checkpoints (``checkpoints.py``) are atomic and resume exactly: the same per-step losses and the
  same final weights as an uninterrupted run.
* Scale-out: run the same entry point under ``torchrun --nproc_per_node N`` (or
  ``accelerate launch`` with a multi-process config): each rank takes every N-th micro-batch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.pipelines.callbacks import Callback
from supportkit.pipelines.checkpoints import CheckpointManager, ResumeError, TrainerState, set_rng_state
from supportkit.pipelines.loss import IGNORE, token_loss_sum
from supportkit.pipelines.train_eval import generated_metrics, validation_loss
from supportkit.pipelines.training_summary import (
    TrainingSummary,
    config_hash,
    data_fingerprint,
    peak_memory_mb,
    tensorboard_writer,
)

log = logging.getLogger(__name__)

#: Test hook: SIGKILL this process right after the given optimizer step (and its checkpoint).
KILL_ENV = "SUPPORTKIT_KILL_AT_STEP"


class TrainingPipeline:
    def __init__(
        self, model: Any, config: Config | None = None, *, callbacks: Sequence[Callback] = ()
    ) -> None:
        self.model = model
        self.config = config if config is not None else model.config
        self.config.validate()
        self.callbacks = list(callbacks)
        self.accelerator: Any = None

    # --- configuration fingerprints -------------------------------------------------------------------
    def _config_fingerprint(self) -> str:
        c = self.config.to_dict()
        training = {
            k: v
            for k, v in c["training"].items()
            if k
            not in {
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
        }
        return config_hash(
            {
                "model": c["model"],
                "peft": c["peft"],
                "lora": c["lora"],
                "adapter": c["adapter"],
                "training": training,
            }
        )

    def _resume_point(self, manager: CheckpointManager, resume_from: str | None) -> Path | None:
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
        return path

    # --- the loop --------------------------------------------------------------------------------------
    def train(
        self, train_dataloader: Any, val_dataloader: Any = None, *, resume_from: str | None = None
    ) -> TrainingSummary:
        import torch
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState
        from accelerate.utils import set_seed
        from transformers import get_scheduler

        t = self.config.training
        cpu = not self.config.model.device.startswith("cuda") and self.config.model.device != "auto"
        # accelerate keeps one process-wide state; a second run in this process (a comparison, a
        # notebook) with another mixed precision would be refused. Reset it, keeping the process
        # group (PartialState) of a multi-process launch.
        AcceleratorState._reset_state(reset_partial_state=False)
        accelerator = Accelerator(mixed_precision=t.mixed_precision, cpu=cpu)
        self.accelerator = accelerator
        world, rank = accelerator.num_processes, accelerator.process_index
        set_seed(t.seed)
        manager = CheckpointManager(
            t.output_dir, keep_last=t.save_total_limit, greater_is_better=t.metric_for_best != "val_loss"
        )
        state = TrainerState(
            data_fingerprint=data_fingerprint(train_dataloader),
            config_fingerprint=self._config_fingerprint(),
            world_size=world,
        )
        resume_path = self._resume_point(manager, resume_from if resume_from is not None else t.resume_from)
        tensors: dict[str, Any] = {}
        if resume_path is not None:
            saved, tensors = manager.load(resume_path)
            problems = [
                name
                for name, a, b in (
                    ("training data", saved.data_fingerprint, state.data_fingerprint),
                    ("config", saved.config_fingerprint, state.config_fingerprint),
                )
                if a != b
            ]
            if problems and not t.force_resume:
                raise ResumeError(
                    f"{resume_path} was trained with different {' and '.join(problems)}; resuming would not "
                    "continue the same run. Use the original data/config, or set training.force_resume=true"
                )
            self.model.load_model(resume_path / "adapter")  # weights first: the optimizer binds to them
            state = saved
            state.world_size = world
            log.info("resuming from %s at step %d", resume_path, state.global_step)

        module = self.model.model
        if t.gradient_checkpointing:
            module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            module.config.use_cache = False
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ResumeError("nothing to train: the model has no trainable parameters (peft.method=none?)")
        optimizer = torch.optim.AdamW(params, lr=t.learning_rate, weight_decay=t.weight_decay)
        window = world * t.gradient_accumulation_steps
        batches_per_epoch = len(train_dataloader)
        steps_per_epoch = batches_per_epoch // window if world > 1 else math.ceil(batches_per_epoch / window)
        if steps_per_epoch == 0:
            raise ResumeError(f"{batches_per_epoch} batches cannot fill one step of {window} micro-batches")
        total_steps = t.max_steps or steps_per_epoch * t.num_epochs
        scheduler = get_scheduler(
            t.lr_scheduler, optimizer, num_warmup_steps=t.warmup_steps, num_training_steps=total_steps
        )
        module, optimizer = accelerator.prepare(module, optimizer)
        if tensors:
            optimizer.load_state_dict(tensors["optimizer"])
            scheduler.load_state_dict(tensors["scheduler"])
            set_rng_state(tensors["rng"])
        for cb in self.callbacks:
            cb.on_train_begin(self, state)

        metrics_file = Path(t.output_dir) / "metrics.jsonl"
        writer = tensorboard_writer(Path(t.output_dir)) if accelerator.is_main_process else None
        prefix = self._virtual_prefix()
        started = time.perf_counter()
        tokens_at_start = state.tokens_seen
        stopped_early = False
        patience_left = t.early_stopping_patience
        kill_at = int(os.environ.get(KILL_ENV, "0") or 0)
        log.info(
            "rank %d/%d: training %d steps (%d per epoch, %d micro-batches each)",
            rank,
            world,
            total_steps,
            steps_per_epoch,
            window,
        )

        def do_step(micro_batches: list[dict[str, Any]]) -> None:
            nonlocal stopped_early, patience_left
            n_total = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in micro_batches)
            mine = micro_batches[rank::world]
            module.train()
            local = 0.0
            step_start = time.perf_counter()
            for j, batch in enumerate(mine):
                batch = {k: v.to(accelerator.device) for k, v in batch.items()}
                sync = contextlib.nullcontext() if j == len(mine) - 1 else accelerator.no_sync(module)
                with sync, accelerator.autocast():
                    loss_sum, _ = self._loss(module, batch, prefix)
                    # DDP averages gradients over processes, hence x world: the sum over all
                    # micro-batches of the window, divided once by all its target tokens.
                    accelerator.backward(loss_sum / max(n_total, 1) * world)
                local += float(loss_sum.detach())
            if t.max_grad_norm:
                accelerator.clip_grad_norm_(params, t.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step_loss = float(
                accelerator.reduce(torch.tensor([local], device=accelerator.device), "sum")[0]
            ) / max(n_total, 1)
            state.global_step += 1
            state.tokens_seen += n_total
            state.losses.append(step_loss)
            elapsed = time.perf_counter() - step_start
            record = {
                "step": state.global_step,
                "epoch": state.epoch,
                "loss": step_loss,
                "learning_rate": scheduler.get_last_lr()[0],
                "tokens_per_s": n_total / elapsed if elapsed else 0.0,
            }
            if state.global_step % t.logging_steps == 0 or state.global_step == total_steps:
                log.info(
                    "rank %d/%d step %d loss %.4f lr %.2e %.0f tok/s",
                    rank,
                    world,
                    state.global_step,
                    step_loss,
                    record["learning_rate"],
                    record["tokens_per_s"],
                )
            for cb in self.callbacks:
                cb.on_step_end(self, state, record)
            evaluated = None
            if (
                val_dataloader is not None
                and t.eval_steps
                and (state.global_step % t.eval_steps == 0 or state.global_step == total_steps)
            ):
                evaluated = self._evaluate(module, val_dataloader, state)
                record.update({f"eval_{k}": v for k, v in evaluated.items()})
                improved = self._track_best(state, evaluated)
                if t.early_stopping_patience is not None:
                    patience_left = t.early_stopping_patience if improved else (patience_left or 0) - 1
                    stopped_early = patience_left is not None and patience_left <= 0
            if accelerator.is_main_process:
                with metrics_file.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")
                if writer is not None:
                    for key, value in record.items():
                        if isinstance(value, float):
                            writer.add_scalar(key, value, state.global_step)
            progress.update(1)
            progress.set_postfix(
                loss=f"{step_loss:.4f}",
                lr=f"{record['learning_rate']:.1e}",
                tok_s=f"{record['tokens_per_s']:.0f}",
            )
            if (
                (t.save_steps and state.global_step % t.save_steps == 0)
                or state.global_step == total_steps
                or stopped_early
            ):
                self._save(manager, optimizer, scheduler, state)
            if kill_at and state.global_step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        from tqdm.auto import tqdm

        progress = tqdm(
            total=total_steps,
            initial=state.global_step,
            disable=not accelerator.is_main_process,
            desc="training",
        )
        while state.global_step < total_steps and not stopped_early:
            sampler: Any = getattr(train_dataloader, "batch_sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(state.epoch)
            pending: list[dict[str, Any]] = []
            # A torch DataLoader draws a seed from the global RNG when an iterator starts; a resumed
            # run starts one at a different moment, so keep it off the global RNG (dropout uses it).
            with torch.random.fork_rng(devices=[]):
                batches = iter(train_dataloader)
            for index, batch in enumerate(batches):
                if index < state.batches_done:
                    continue  # already trained on before the resume
                pending.append(batch)
                if len(pending) == window:
                    state.batches_done = index + 1
                    do_step(pending)
                    pending = []
                    if state.global_step >= total_steps or stopped_early:
                        break
            else:
                if pending and world == 1:
                    state.batches_done = batches_per_epoch
                    do_step(pending)
                elif pending:
                    log.info(
                        "rank %d: %d trailing micro-batches do not fill a step and are skipped",
                        rank,
                        len(pending),
                    )
                if state.global_step < total_steps and not stopped_early:
                    state.epoch += 1
                    state.batches_done = 0
        progress.close()
        accelerator.wait_for_everyone()
        duration = time.perf_counter() - started
        trainable, total = self.model.trainable_parameters()
        summary = TrainingSummary(
            steps=state.global_step,
            epochs_completed=state.epoch + state.batches_done / max(batches_per_epoch, 1),
            train_time_s=duration,
            tokens_per_s=(state.tokens_seen - tokens_at_start) / duration if duration else 0.0,
            final_loss=state.losses[-1] if state.losses else None,
            best_metric=state.best_metric,
            best_step=state.best_step,
            metric_for_best=t.metric_for_best,
            peak_memory_mb=peak_memory_mb(),
            trainable_params=trainable,
            total_params=total,
            world_size=world,
            output_dir=str(t.output_dir),
            stopped_early=stopped_early,
            resumed_from=str(resume_path) if resume_path else None,
        )
        if accelerator.is_main_process:
            (Path(t.output_dir) / "summary.json").write_text(
                json.dumps(summary.to_dict(), indent=2), encoding="utf-8"
            )
        if writer is not None:
            writer.close()
        for cb in self.callbacks:
            cb.on_train_end(self, summary)
        module.eval()
        return summary

    # --- pieces ----------------------------------------------------------------------------------------
    def _virtual_prefix(self) -> int:
        """Prompt tuning puts virtual tokens before the input; their logits are not ours."""
        peft_config = getattr(self.model.model, "peft_config", None)
        if not peft_config:
            return 0
        active = peft_config[self.model.model.active_adapter]
        return int(active.num_virtual_tokens) if active.peft_type.value == "PROMPT_TUNING" else 0

    def _loss(self, module: Any, batch: dict[str, Any], prefix: int) -> tuple[Any, int]:
        for cb in self.callbacks:
            custom = cb.compute_loss(self, module, batch)
            if custom is not None:
                return custom
        return token_loss_sum(
            module, batch, logits_only_on_labels=self.config.training.logits_only_on_labels, prefix=prefix
        )

    def _evaluate(self, module: Any, val_dataloader: Any, state: TrainerState) -> dict[str, float]:
        t = self.config.training
        acc = self.accelerator
        metrics = {
            "val_loss": validation_loss(
                module,
                val_dataloader,
                device=acc.device,
                autocast=acc.autocast,
                rank=acc.process_index,
                world=acc.num_processes,
                reduce=lambda x: acc.reduce(x, "sum"),
            )
        }
        if t.eval_samples:
            settings = self.config.generation
            metrics.update(
                generated_metrics(
                    acc.unwrap_model(module),
                    self.model.tokenizer,
                    val_dataloader,
                    samples=t.eval_samples,
                    settings=settings,
                )
            )
        for cb in self.callbacks:
            metrics.update(cb.on_evaluate(self, state, metrics) or {})
        state.evaluations.append({"step": state.global_step, **metrics})
        log.info(
            "step %d evaluation: %s", state.global_step, ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        )
        return metrics

    def _track_best(self, state: TrainerState, metrics: dict[str, float]) -> bool:
        name = self.config.training.metric_for_best
        value = metrics.get(name)
        if value is None or math.isnan(value):
            return False
        better = state.best_metric is None or (
            value < state.best_metric if name == "val_loss" else value > state.best_metric
        )
        if better:
            state.best_metric, state.best_step = value, state.global_step
        return better

    def _save(self, manager: CheckpointManager, optimizer: Any, scheduler: Any, state: TrainerState) -> None:
        acc = self.accelerator
        acc.wait_for_everyone()
        if acc.is_main_process:
            path = manager.save(self.model, optimizer, scheduler, state)
            for cb in self.callbacks:
                cb.on_save(self, state, path)
        acc.wait_for_everyone()
