"""Training in real processes: SIGKILL and exact resume, a kill mid-checkpoint, 2-process scale-out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from supportkit.pipelines.training import KILL_ENV
from supportkit.utils.atomic import FAULT_ENV

pytestmark = pytest.mark.slow
DATASET = Path(__file__).resolve().parents[2] / "data" / "store" / "conversations.jsonl"


def _overrides(tiny_model_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        f"model.name_or_path={tiny_model_dir}",
        f"data.train_file={DATASET}",
        "data.dedup_threshold=null",
        f"training.output_dir={out}",
        "training.max_steps=6",
        "training.batch_size=2",
        "training.save_steps=2",
        "training.eval_steps=null",
        "training.learning_rate=5e-3",
        "lora.lora_dropout=0.1",  # dropout draws random numbers: the RNG state must be restored too
        *extra,
    ]


def _train(
    overrides: list[str], *args: str, env: dict[str, str] | None = None, launcher: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [*(launcher or [sys.executable, "-m"]), "supportkit", "-v", "train", *overrides, *args]
    return subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False, timeout=600
    )


def _final(out: Path) -> tuple[list[float], dict[str, torch.Tensor]]:
    state = json.loads((out / "checkpoint-000006" / "trainer_state.json").read_text())
    return state["losses"], load_file(out / "adapter" / "adapter_model.safetensors")


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 0.0) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=atol, rtol=0) for k in a)


@pytest.fixture(scope="module")
def uninterrupted(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[float], dict[str, torch.Tensor]]:
    out = tmp_path_factory.mktemp("uninterrupted")
    proc = _train(_overrides(tiny_model_dir, out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _final(out)


def test_sigkill_between_checkpoints_then_resume_is_exact(
    uninterrupted, tiny_model_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    overrides = _overrides(tiny_model_dir, tmp_path)
    killed = _train(overrides, env={KILL_ENV: "3"})
    assert killed.returncode == -9  # SIGKILL after step 3; the last checkpoint is step 2
    assert (tmp_path / "checkpoint-000002").is_dir() and not (tmp_path / "checkpoint-000004").exists()
    resumed = _train(overrides, "--resume", "auto")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr and "at step 2" in resumed.stderr
    losses, weights = _final(tmp_path)
    assert losses == uninterrupted[0]
    assert _same_weights(weights, uninterrupted[1])


def test_sigkill_in_the_middle_of_a_checkpoint_write(
    uninterrupted, tiny_model_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    overrides = _overrides(tiny_model_dir, tmp_path)
    killed = _train(overrides, env={FAULT_ENV: "kill_after_files:3"})
    assert killed.returncode == -9
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("checkpoint-")]  # nothing half-written
    assert [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # only the temporary it was writing
    resumed = _train(overrides, "--resume", "auto")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "interrupted checkpoint write" in resumed.stderr
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    losses, weights = _final(tmp_path)
    assert losses == uninterrupted[0] and _same_weights(weights, uninterrupted[1])


def test_two_processes_equal_one_with_the_same_global_batch(tiny_model_dir: Path, tmp_path: Path) -> None:
    env = {"OMP_NUM_THREADS": "1"}
    common = ["lora.lora_dropout=0", "training.max_steps=4"]
    two = _train(
        _overrides(tiny_model_dir, tmp_path / "two", *common),
        env=env,
        launcher=[sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m"],
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert "rank 0/2" in two.stderr and "rank 1/2" in two.stderr  # really two processes
    one = _train(
        _overrides(tiny_model_dir, tmp_path / "one", *common, "training.gradient_accumulation_steps=2"),
        env=env,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["world_size"] == 2
    a = load_file(tmp_path / "two" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "one" / "adapter" / "adapter_model.safetensors")
    assert _same_weights(a, b, atol=1e-5)
    assert not _same_weights(
        a, load_file(tmp_path / "two" / "checkpoint-000002" / "adapter" / "adapter_model.safetensors")
    )
