"""Preference fine-tuning (``training.objective=dpo|kto``): preference file -> TRL -> saved adapter.

    result = preference_finetune(config)   # config.data.train_file: a `supportkit feedback export` file
    result.adapter                         # <training.output_dir>/adapter, loadable by the server by name

Starts from ``training.init_adapter`` (the SFT adapter; its method and shape) or a fresh adapter of
``peft.method``; see :mod:`supportkit.pipelines.preference` for the reference model and what differs
from SFT runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.errors import ConfigError
from supportkit.recipes.finetune import FinetuneResult, is_main_process


def _quiet(_line: str) -> None:
    return None


def special_tokens(tokenizer: Any) -> set[str]:
    """The tokenizer's special tokens (chat markup): texts holding one are refused."""
    found = set(tokenizer.all_special_tokens)
    found |= {t.content for t in tokenizer.added_tokens_decoder.values() if t.special}
    return found


def build_model(config: Config) -> Any:
    """The model to train: ``training.init_adapter`` loaded as adapter ``default`` (and, for KTO, as the
    frozen reference ``ref``), or a fresh ``peft.method`` adapter. Raises ModelLoadError/ConfigError."""
    from supportkit.models.artifacts import AdapterMeta, adapter_config
    from supportkit.models.peft import PEFTModel

    init = config.training.init_adapter
    if not init:
        return PEFTModel(config)
    path = Path(init)
    if not path.is_dir():
        raise ConfigError(f"training.init_adapter: {path} is not a directory (a saved adapter is one)")
    meta = AdapterMeta.read(path)
    model = PEFTModel(adapter_config(meta, path, config), adapter_name="default", method=meta.method)
    model.load_model(path, adapter_name="default")
    if config.training.objective == "kto" and model.spec.backend == "peft":
        model.load_adapter(path, "ref")
        model.set_adapter("default")
    return model


def preference_finetune(
    config: Config,
    *,
    model: Any = None,
    adapter_dir: str | Path | None = None,
    resume_from: str | None = None,
    say: Callable[[str], None] = _quiet,
) -> FinetuneResult:
    """Train ``config.training.objective`` (``dpo``/``kto``) on ``data.train_file`` and save the adapter.

    Raises ConfigError (no file, a method TRL cannot train this way), DataError (``FILE:LINE`` of a bad
    row), ResumeError, WriteError, TrainingInterrupted.
    """
    from supportkit.data.preferences import read_preferences
    from supportkit.pipelines.checkpoints import writing
    from supportkit.pipelines.preference import PreferencePipeline
    from supportkit.prompts.prompt_sets import load_prompt_set

    t, d = config.training, config.data
    if not d.train_file:
        raise ConfigError(
            f"training.objective={t.objective} needs data.train_file=FILE, a preference file "
            f"(supportkit feedback export --format {t.objective} --output FILE)"
        )
    model = model if model is not None else build_model(config)
    pipeline = PreferencePipeline(model, config)  # refuses methods TRL cannot train this way, before reading
    data = read_preferences(
        d.train_file, t.objective, on_error=d.on_error, special_tokens=special_tokens(model.tokenizer)
    )
    system = load_prompt_set(config.prompt.prompt_set).system if d.add_system_prompt else None
    sizes = {"train": len(data.rows), "skipped_rows": len(data.skipped)}
    if is_main_process():
        start = f"adapter {t.init_adapter}" if t.init_adapter else f"a fresh {model.method} adapter"
        say(
            f"data: {d.train_file}: {len(data.rows)} {t.objective} rows "
            f"({len(data.skipped)} bad rows skipped)"
        )
        say(f"model: {config.model.name_or_path}, starting from {start}: {model.parameter_summary()}")
    summary = pipeline.train(data, resume_from=resume_from, system=system)
    adapter = None
    if pipeline.trainer.accelerator.is_main_process:
        target = Path(adapter_dir) if adapter_dir else Path(t.output_dir) / "adapter"
        with writing(target):
            adapter = model.save_model(target)
        say(
            f"done ({t.objective}): {summary.steps} steps in {summary.train_time_s:.1f} s, final loss "
            f"{summary.final_loss:.4f}"
        )
        say(f"adapter saved to {adapter}; checkpoints and metrics.jsonl in {t.output_dir}")
    return FinetuneResult(model, summary, adapter, sizes)
