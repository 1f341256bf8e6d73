"""The fine-tuning recipe: model -> data -> train -> save, used by ``train``, ``compare`` and the demo.

    result = finetune(config, resume_from="auto")
    result.adapter        # Path of the saved adapter (main process), e.g. outputs/run/adapter
    result.summary        # TrainingSummary: steps, losses, tokens/s, best metric

A SIGINT/SIGTERM during training saves a checkpoint and raises
:class:`~supportkit.pipelines.interrupt.TrainingInterrupted`; run again with ``resume_from="auto"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.errors import ConfigError
from supportkit.pipelines.callbacks import Callback
from supportkit.pipelines.checkpoints import writing
from supportkit.pipelines.training_summary import TrainingSummary


@dataclass
class FinetuneResult:
    model: Any
    summary: TrainingSummary
    #: Where the trained adapter was saved (``None`` on processes other than the main one).
    adapter: Path | None
    #: Conversations per split (``train``/``validation``/``test``), truncated and skipped rows.
    data_sizes: dict[str, int]


def _quiet(_line: str) -> None:
    return None


def finetune(
    config: Config,
    *,
    model: Any = None,
    adapter_dir: str | Path | None = None,
    resume_from: str | None = None,
    callbacks: Sequence[Callback] = (),
    say: Callable[[str], None] = _quiet,
) -> FinetuneResult:
    """Train ``config.peft.method`` on ``config.data`` and save the adapter (``training.objective``
    ``dpo``/``kto``: :func:`supportkit.recipes.preference.preference_finetune`).

    Args:
        config: the whole configuration (data, model, method, training).
        model: an already built :class:`~supportkit.models.peft.PEFTModel` (default: built from config).
        adapter_dir: where to save the adapter (default ``<training.output_dir>/adapter``).
        resume_from: ``auto`` or a checkpoint path (default ``training.resume_from``).
        callbacks: training :class:`Callback` hooks.
        say: receives progress lines for a person (data sizes, model, where things were saved).

    Raises ``ConfigError`` without ``data.train_file`` (before any model loads), and whatever
    :meth:`TrainingPipeline.train` raises (``ConfigError``, ``ResumeError``,
    ``DataError``, ``WriteError``, ``TrainingInterrupted``).
    """
    from supportkit.data.loader import NO_TRAIN_FILE

    if not config.data.train_file:  # before the model loads; never a silent fallback to an example
        raise ConfigError(NO_TRAIN_FILE)
    if config.training.objective != "sft":
        from supportkit.recipes.preference import preference_finetune

        if callbacks:
            raise ConfigError(
                "supportkit Callbacks hook the SFT loop; for training.objective="
                f"{config.training.objective} give transformers TrainerCallbacks to PreferencePipeline"
            )

        return preference_finetune(
            config, model=model, adapter_dir=adapter_dir, resume_from=resume_from, say=say
        )
    from supportkit.data.loader import DataLoader
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.training import TrainingPipeline

    if model is None and config.training.init_adapter:
        from supportkit.recipes.preference import build_model

        model = build_model(config)
    model = model if model is not None else PEFTModel(config)
    loader = DataLoader(config, model.tokenizer)
    data = loader.prepare()
    train_dl, val_dl = loader.dataloaders_for(data)
    sizes = {**data.splits.sizes(), "truncated": data.truncated, "skipped_rows": data.skipped_rows}
    trainer = TrainingPipeline(model, config, callbacks=callbacks)
    if is_main_process():
        say(
            f"data: {config.data.train_file}: {sizes['train']} train / {sizes['validation']} validation / "
            f"{sizes['test']} test conversations ({data.truncated} truncated, "
            f"{data.skipped_rows} bad rows skipped)"
        )
        say(f"model: {config.model.name_or_path}, method {model.method}: {model.parameter_summary()}")
    summary = trainer.train(train_dl, val_dl, resume_from=resume_from)
    adapter = None
    if trainer.accelerator.is_main_process:
        target = Path(adapter_dir) if adapter_dir else Path(config.training.output_dir) / "adapter"
        with writing(target):
            adapter = model.save_model(target)
        say(f"done: {summary.format()}")
        say(f"adapter saved to {adapter}; checkpoints and metrics.jsonl in {config.training.output_dir}")
    return FinetuneResult(model, summary, adapter, sizes)


def is_main_process() -> bool:
    """True on the first process of a ``torchrun`` launch (and in a plain single-process run)."""
    import os

    return os.environ.get("RANK", "0") == "0"
