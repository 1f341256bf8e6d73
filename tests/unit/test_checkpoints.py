"""Damaged checkpoints, full disks, interrupted runs and schedules that never train (tiny model)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from supportkit import Config, PEFTModel
from supportkit.data.loader import DataLoader
from supportkit.errors import ConfigError, WriteError
from supportkit.pipelines.callbacks import Callback
from supportkit.pipelines.checkpoints import (
    CheckpointCorruptError,
    CheckpointManager,
    ResumeError,
    verify_checkpoint,
)
from supportkit.pipelines.interrupt import TrainingInterrupted
from supportkit.pipelines.training import TrainingPipeline
from supportkit.retrieval.embedder import HashingEmbedder
from supportkit.utils.atomic import FAULT_ENV

DATASET = Path(__file__).resolve().parents[2] / "data" / "store" / "conversations.jsonl"


def _config(tiny_config: Config, tmp_path: Path, *extra: str) -> Config:
    return tiny_config.with_overrides(
        [
            f"training.output_dir={tmp_path / 'run'}",
            f"data.train_file={DATASET}",
            "data.dedup_threshold=null",
            "lora.lora_dropout=0.1",
            "training.learning_rate=1e-2",
            "training.eval_steps=null",
            "training.save_steps=2",
            "training.max_steps=4",
            "training.batch_size=2",
            "training.save_total_limit=5",
            *extra,
        ]
    )


def _train(config: Config, resume_from: str | None = None, callbacks: list[Callback] | None = None) -> Any:
    model = PEFTModel(config)
    loader = DataLoader(config, model.tokenizer)
    data = loader.prepare(embedder=HashingEmbedder())
    data.train = data.train[:12]
    train, _ = loader.dataloaders_for(data)
    return TrainingPipeline(model, config, callbacks=callbacks or []).train(train, resume_from=resume_from)


def _metric_steps(config: Config) -> list[int]:
    lines = (Path(config.training.output_dir) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


def _losses(checkpoint: Path) -> list[float]:
    return list(json.loads((checkpoint / "trainer_state.json").read_text())["losses"])


@pytest.fixture(scope="module")
def finished_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted 4-step run with checkpoints at steps 2 and 4 (read-only for the tests)."""
    from supportkit.config import ModelConfig

    tmp = tmp_path_factory.mktemp("finished")
    _train(_config(Config(model=ModelConfig(name_or_path=str(tiny_model_dir))), tmp))
    return tmp / "run"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "truncated adapter weights": ("adapter/adapter_model.safetensors", _truncate),
    "missing adapter config": ("adapter/adapter_config.json", Path.unlink),
    "truncated optimizer state": ("training_state.pt", _truncate),
    "unparseable trainer state": ("trainer_state.json", lambda p: p.write_text('{"global_step": 4,')),
    "missing trainer state": ("trainer_state.json", Path.unlink),
    "flipped byte in the weights": (
        "adapter/adapter_model.safetensors",
        lambda p: p.write_bytes(p.read_bytes()[:-1] + bytes([p.read_bytes()[-1] ^ 1])),
    ),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_every_kind_of_damage_is_found_and_named(finished_run: Path, tmp_path: Path, kind: str) -> None:
    relative, damage = DAMAGE[kind]
    checkpoint = tmp_path / "checkpoint-000004"
    shutil.copytree(finished_run / "checkpoint-000004", checkpoint)
    verify_checkpoint(checkpoint)  # intact before
    damage(checkpoint / relative)
    with pytest.raises(CheckpointCorruptError, match=str(checkpoint / relative).replace(".", r"\.")):
        verify_checkpoint(checkpoint)


def test_resume_auto_falls_back_to_the_newest_intact_checkpoint(
    tiny_config: Config, finished_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(tiny_config, tmp_path)
    shutil.copytree(finished_run, tmp_path / "run")
    bad = tmp_path / "run" / "checkpoint-000004" / "adapter" / "adapter_model.safetensors"
    _truncate(bad)
    with caplog.at_level(logging.WARNING):
        summary = _train(config, resume_from="auto")
    assert str(bad) in caplog.text and "falling back" in caplog.text
    assert summary.resumed_from == str(tmp_path / "run" / "checkpoint-000002")
    assert summary.steps == 4
    assert _metric_steps(config) == [1, 2, 3, 4]  # steps 3 and 4 recorded once, not twice
    # the resumed run repeats steps 3 and 4 exactly (dropout on: the RNG state was restored too)
    assert _losses(tmp_path / "run" / "checkpoint-000004") == _losses(finished_run / "checkpoint-000004")


def test_a_run_that_starts_over_sets_the_earlier_one_aside_and_keeps_its_own_checkpoints(
    tiny_config: Config, finished_run: Path, tmp_path: Path
) -> None:
    """An earlier, longer run in the same folder: rotation keeps the highest step numbers, so its
    checkpoints made the new run's own be deleted as they were written (a crash then lost it all)."""
    config = _config(tiny_config, tmp_path, "training.save_total_limit=1")
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    shutil.copytree(run / "checkpoint-000004", run / "checkpoint-000009")  # as if 9 steps were run
    earlier_losses = _losses(run / "checkpoint-000009")
    with pytest.raises(TrainingInterrupted):
        _train(config, callbacks=[_SignalAtStep(3)])  # the new run stopped at step 3 (saved)
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-000003"]
    [aside] = list((run / "earlier-runs").iterdir())
    assert sorted(p.name for p in aside.iterdir()) == [
        "checkpoint-000002",
        "checkpoint-000004",
        "checkpoint-000009",
        "metrics.jsonl",
        "summary.json",
    ]
    assert _losses(aside / "checkpoint-000009") == earlier_losses  # nothing of the earlier run is lost
    resumed = _train(config, resume_from="auto")  # resumes the new run, not the earlier one
    assert resumed.resumed_from == str(run / "checkpoint-000003") and resumed.steps == 4
    assert _metric_steps(config) == [1, 2, 3, 4]


def test_an_explicit_damaged_checkpoint_or_no_intact_one_is_a_clear_error(
    tiny_config: Config, finished_run: Path, tmp_path: Path
) -> None:
    config = _config(tiny_config, tmp_path)
    shutil.copytree(finished_run, tmp_path / "run")
    for step in (2, 4):
        _truncate(tmp_path / "run" / f"checkpoint-00000{step}" / "training_state.pt")
    explicit = tmp_path / "run" / "checkpoint-000004"
    with pytest.raises(CheckpointCorruptError, match=r"training_state\.pt"):
        _train(config, resume_from=str(explicit))
    with pytest.raises(ResumeError, match="no intact checkpoint"):
        CheckpointManager(tmp_path / "run", keep_last=2, greater_is_better=False).latest()


def test_a_failing_write_names_the_checkpoint(
    tiny_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAULT_ENV, "raise_after_files:2")  # as ENOSPC would, while the files are made durable
    with pytest.raises(WriteError, match="checkpoint-000002") as caught:
        _train(_config(tiny_config, tmp_path))
    assert isinstance(caught.value, OSError)
    assert not (tmp_path / "run" / "checkpoint-000002").exists()


class _SignalAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer: Any, state: Any, metrics: dict[str, float]) -> None:
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the run


def test_a_signal_saves_a_checkpoint_and_the_run_resumes_exactly(
    tiny_config: Config, finished_run: Path, tmp_path: Path
) -> None:
    config = _config(tiny_config, tmp_path)
    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match=r"SIGINT at step 3.*--resume auto") as caught:
        _train(config, callbacks=[_SignalAtStep(3)])
    assert signal.getsignal(signal.SIGINT) is previous  # handlers restored
    assert caught.value.exit_code == 130
    checkpoint = tmp_path / "run" / "checkpoint-000003"
    verify_checkpoint(checkpoint)
    summary = _train(config, resume_from="auto")
    assert summary.resumed_from == str(checkpoint) and summary.steps == 4
    assert _metric_steps(config) == [1, 2, 3, 4]
    assert _losses(tmp_path / "run" / "checkpoint-000004") == _losses(finished_run / "checkpoint-000004")


def test_warmup_that_covers_the_whole_run_is_refused(tiny_config: Config, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"warmup_steps=3 >= training\.max_steps=2"):
        _config(tiny_config, tmp_path, "training.max_steps=2", "training.warmup_steps=3")
    # the same when the length comes from epochs: 12 examples / batch 2 = 6 steps
    config = _config(tiny_config, tmp_path, "training.max_steps=null", "training.warmup_steps=6")
    with pytest.raises(ConfigError, match="never leave warmup"):
        _train(config)
