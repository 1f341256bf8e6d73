"""Preference training (``training.objective=dpo|kto``) with TRL's ``DPOTrainer`` and KTO trainer.

    summary = PreferencePipeline(model, config).train(read_preferences(path, "dpo"))
    model.save_model("outputs/dpo/adapter")      # the same adapter files and manifest as SFT

* The model is a :class:`~supportkit.models.peft.PEFTModel` with a peft adapter named ``default``
  (``lora``, ``dora``, ``ia3``, ``loha``, ``lokr``): TRL trains it in place, and the **reference** is
  the same model, never a second copy. DPO (TRL 0.29) keeps a frozen copy of the starting adapter's
  weights as a second adapter named ``ref`` (adapter weights only: 10 MB for LoRA r=8 on SmolLM2-135M);
  KTO gets the same ``ref`` adapter here when training starts from ``training.init_adapter``, and
  otherwise disables the adapter (a fresh adapter starts as the identity, so both are the base).
  ``ref`` is deleted before the adapter is saved.
* Settings come from ``training`` (learning rate, steps/epochs, batch, accumulation, warmup,
  schedule, clipping, precision, seed, logging/eval/save steps, ``save_total_limit``, ``beta``) and
  ``data`` (``max_length``, ``val_split``, ``add_system_prompt``, ``seed``).
* What is the same as SFT: ``metrics.jsonl`` (one record per logged step, cut back on resume),
  ``summary.json``, SIGINT/SIGTERM (save, then :class:`TrainingInterrupted`), ``--resume auto|PATH``,
  ``accelerate``/``torchrun`` processes. What differs: checkpoints are TRL's (transformers')
  ``checkpoint-N`` directories (adapter in safetensors; optimizer/scheduler state read back with
  ``torch.load(weights_only=True)``), not supportkit's verified ones; no generation-based
  evaluation (TRL's eval loss and reward accuracy on ``data.val_split`` of the pairs instead);
  accumulation is TRL's (per-pair mean loss), no early stopping.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.data.preferences import PreferenceData
from supportkit.errors import ConfigError
from supportkit.pipelines.checkpoints import ResumeError, set_aside_earlier_run, writing
from supportkit.pipelines.interrupt import StopSignals, TrainingInterrupted
from supportkit.pipelines.metrics_log import MetricsLog
from supportkit.pipelines.training_summary import TrainingSummary, peak_memory_mb, reset_peak_memory
from supportkit.utils.atomic import atomic_write_text

log = logging.getLogger(__name__)

REF_ADAPTER = "ref"


def check_trainable(model: Any, objective: str) -> None:
    """Raise :class:`ConfigError` unless ``model`` holds a peft adapter TRL can train as ``objective``."""
    module = model.model
    config = getattr(module, "peft_config", {}).get("default")
    if model.spec.backend != "peft" or config is None:
        raise ConfigError(
            f"training.objective={objective} trains a peft adapter named 'default' (peft.method lora, "
            f"dora, ia3, loha or lokr), not peft.method={model.method}: the reference model would be a "
            "second copy of the model. Train that method with training.objective=sft"
        )
    if config.is_prompt_learning:
        raise ConfigError(
            f"training.objective={objective} does not train peft.method={model.method} (virtual tokens): "
            "use lora, dora, ia3, loha or lokr"
        )


def with_system(rows: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    """Rows whose prompt starts with ``system`` when it has no system turn (as SFT data gets it)."""
    if not system:
        return rows
    return [
        row if row["prompt"][0]["role"] == "system" else {**row, "prompt": [_sys(system), *row["prompt"]]}
        for row in rows
    ]


def _sys(text: str) -> dict[str, str]:
    return {"role": "system", "content": text}


def split_rows(rows: list[dict[str, Any]], fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """(train, validation): a seeded ``fraction`` of the rows held out, when that leaves 2+ of each."""
    held = int(len(rows) * fraction)
    if held < 2 or len(rows) - held < 2:
        return rows, []
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    chosen = set(order[:held])
    return [r for i, r in enumerate(rows) if i not in chosen], [r for i, r in enumerate(rows) if i in chosen]


def _callback(metrics: MetricsLog, signals: StopSignals, main: bool) -> Any:
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class Bridge(TrainerCallback):
        """metrics.jsonl records, the progress bar (SFT's: ``training`` with loss and learning
        rate, on stderr) and the stop signal, inside TRL's loop. Replaces transformers'
        ``PrinterCallback``, which printed every log dict to stdout."""

        bar: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if main:  # state is the resumed one here: the bar and the log start at its step
                metrics.start_at(state.global_step)
                self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="training")

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if main and logs and "train_runtime" not in logs:
                metrics.append({"step": state.global_step, **logs})
                if self.bar is not None and "loss" in logs:
                    lr = logs.get("learning_rate")
                    shown = {"loss": f"{logs['loss']:.4f}", **({"lr": f"{lr:.1e}"} if lr is not None else {})}
                    self.bar.set_postfix(shown, refresh=False)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)
            if signals.received:
                control.should_save = True
                control.should_training_stop = True

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return Bridge()


class PreferencePipeline:
    """Trains ``model``'s ``default`` adapter on preference rows with TRL, per ``config``.

    Raises :class:`ConfigError` for a model TRL cannot train this way (see :func:`check_trainable`),
    :class:`ResumeError` for a ``resume_from`` path that is not a checkpoint, and
    :class:`TrainingInterrupted` after saving on SIGINT/SIGTERM.
    """

    def __init__(self, model: Any, config: Config | None = None, *, callbacks: Sequence[Any] = ()) -> None:
        self.model = model
        #: ``transformers.TrainerCallback`` instances added to TRL's trainer (after supportkit's own).
        self.callbacks = list(callbacks)
        self.config = config if config is not None else model.config
        self.config.validate()
        self.objective = self.config.training.objective
        if self.objective not in ("dpo", "kto"):
            raise ConfigError(
                f"PreferencePipeline trains dpo or kto, not training.objective={self.objective}"
            )
        check_trainable(model, self.objective)
        self.trainer: Any = None

    def _args(self, has_eval: bool) -> Any:
        t, d = self.config.training, self.config.data
        cpu = not self.config.model.device.startswith("cuda") and self.config.model.device != "auto"
        common: dict[str, Any] = {
            "output_dir": t.output_dir,
            "num_train_epochs": t.num_epochs,
            "max_steps": t.max_steps or -1,
            "per_device_train_batch_size": t.batch_size,
            "per_device_eval_batch_size": t.batch_size,
            "gradient_accumulation_steps": t.gradient_accumulation_steps,
            "learning_rate": t.learning_rate,
            "weight_decay": t.weight_decay,
            "warmup_steps": t.warmup_steps,
            "lr_scheduler_type": t.lr_scheduler,
            "max_grad_norm": t.max_grad_norm or 0.0,
            "bf16": t.mixed_precision == "bf16",
            "fp16": t.mixed_precision == "fp16",
            "gradient_checkpointing": t.gradient_checkpointing,
            "seed": t.seed,
            "data_seed": d.seed,
            "logging_steps": t.logging_steps,
            "save_strategy": "steps" if t.save_steps else "no",
            "save_steps": t.save_steps or 500,
            "save_total_limit": t.save_total_limit,
            "eval_strategy": "steps" if has_eval and t.eval_steps else "no",
            "eval_steps": t.eval_steps,
            "report_to": "none",
            "use_cpu": cpu,
            "beta": t.beta,
            "max_length": d.max_length,
            "disable_tqdm": True,
        }
        if self.objective == "dpo":
            from trl import DPOConfig

            return DPOConfig(**common)
        from trl.experimental.kto import KTOConfig

        return KTOConfig(**common)

    def _resume(self, resume: str | None) -> str | None:
        if not resume:
            return None
        if resume == "auto":
            from transformers.trainer_utils import get_last_checkpoint

            out = Path(self.config.training.output_dir)
            return get_last_checkpoint(str(out)) if out.is_dir() else None
        if not (Path(resume) / "trainer_state.json").is_file():
            raise ResumeError(
                f"{resume} is not a checkpoint directory of a dpo/kto run (no trainer_state.json)"
            )
        return resume

    def train(
        self, data: PreferenceData, *, resume_from: str | None = None, system: str | None = None
    ) -> TrainingSummary:
        """Train on ``data`` (its rows get ``system`` as first turn when they have none)."""
        from accelerate.state import AcceleratorState

        from datasets import Dataset

        t = self.config.training
        rows = [{k: v for k, v in row.items() if k != "meta"} for row in with_system(data.rows, system)]
        train_rows, val_rows = split_rows(rows, self.config.data.val_split, self.config.data.seed)
        module = self.model.model
        kwargs: dict[str, Any] = {}
        if self.objective == "kto" and REF_ADAPTER in module.peft_config:
            kwargs = {"model_adapter_name": "default", "ref_adapter_name": REF_ADAPTER}
        AcceleratorState._reset_state(reset_partial_state=False)
        reset_peak_memory()
        metrics, signals = MetricsLog(Path(t.output_dir) / "metrics.jsonl"), StopSignals()
        trainer_cls = self._trainer_class()
        self.trainer = trainer = trainer_cls(
            model=module,
            args=self._args(bool(val_rows)),
            train_dataset=Dataset.from_list(train_rows),
            eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
            processing_class=self.model.tokenizer,
            **kwargs,
        )
        main = trainer.accelerator.is_main_process
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # printed every log dict to stdout
        trainer.add_callback(_callback(metrics, signals, main))
        for callback in self.callbacks:
            trainer.add_callback(callback)
        resume = self._resume(resume_from or t.resume_from)
        if resume is None and main:  # starting over: an earlier run's checkpoints go aside
            set_aside_earlier_run(t.output_dir)
        started = time.perf_counter()
        module.train()
        try:
            with signals:
                output = trainer.train(resume_from_checkpoint=resume)
        finally:
            module.eval()
            if REF_ADAPTER in module.peft_config:
                module.delete_adapter(REF_ADAPTER)
            module.set_adapter("default")
        state = trainer.state
        if signals.received and (not state.max_steps or state.global_step < state.max_steps):
            last = f"{t.output_dir}/checkpoint-{state.global_step}"
            raise TrainingInterrupted(
                f"training stopped by {signals.received} at step {state.global_step}; checkpoint {last} "
                "saved. Run the same command with --resume auto (training.resume_from=auto) to continue",
                step=state.global_step,
                checkpoint=last,
            )
        return self._summary(output, time.perf_counter() - started, resume, main)

    def _trainer_class(self) -> Any:
        if self.objective == "dpo":
            from trl import DPOTrainer

            return DPOTrainer
        from trl.experimental.kto import KTOTrainer

        return KTOTrainer

    def _summary(self, output: Any, seconds: float, resume: str | None, main: bool) -> TrainingSummary:
        import json

        t, state = self.config.training, self.trainer.state
        losses = [h["loss"] for h in state.log_history if "loss" in h]
        evals = [h for h in state.log_history if "eval_loss" in h]
        trainable, total = self.model.trainable_parameters()
        summary = TrainingSummary(
            steps=state.global_step,
            epochs_completed=float(state.epoch or 0.0),
            train_time_s=seconds,
            # DPO logs the tokens it has seen (prompt and answers); KTO does not (0)
            tokens_per_s=max((h.get("num_tokens", 0.0) for h in state.log_history), default=0.0)
            / max(float(output.metrics.get("train_runtime", 0.0)), 1e-9),
            final_loss=losses[-1] if losses else float(output.training_loss),
            best_metric=evals[-1]["eval_loss"] if evals else None,
            best_step=evals[-1]["step"] if evals else None,
            metric_for_best="val_loss",
            peak_memory_mb=peak_memory_mb(),
            trainable_params=trainable,
            total_params=total,
            world_size=self.trainer.accelerator.num_processes,
            output_dir=t.output_dir,
            stopped_early=False,
            resumed_from=resume,
        )
        if main:
            path = Path(t.output_dir) / "summary.json"
            with writing(path):
                atomic_write_text(
                    path, json.dumps({**summary.to_dict(), "objective": self.objective}, indent=2)
                )
        return summary
