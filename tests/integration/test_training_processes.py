"""Training in real processes: SIGKILL and exact resume, a kill mid-checkpoint, SIGTERM from outside,
2-process scale-out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from supportkit.pipelines.checkpoints import CheckpointManager, verify_checkpoint
from supportkit.utils.atomic import FAULT_ENV

pytestmark = pytest.mark.slow
DATASET = Path(__file__).resolve().parents[2] / "data" / "store" / "conversations.jsonl"
#: Runs ``supportkit train`` with a test callback that SIGKILLs the process after step N.
KILLER = Path(__file__).with_name("train_and_kill.py")


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
    overrides: list[str],
    *args: str,
    env: dict[str, str] | None = None,
    launcher: list[str] | None = None,
    command: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    subcommand = ["supportkit", "-v", "train"] if command is None else command
    command = [*(launcher or [sys.executable, "-m"]), *subcommand, *overrides, *args]
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
    killed = _train(overrides, launcher=[sys.executable, str(KILLER), "3"], command=[])
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


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A scheduler's SIGTERM (or Ctrl-C) mid-run: the step finishes, a checkpoint is saved, exit 130."""
    overrides = _overrides(tiny_model_dir, tmp_path, "training.max_steps=100000", "training.save_steps=null")
    command = [sys.executable, "-m", "supportkit", "train", *overrides]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "SIGTERM" in err and "--resume auto" in err
    latest = CheckpointManager(tmp_path, keep_last=2, greater_is_better=False).latest()
    assert latest is not None
    verify_checkpoint(latest)
    state = json.loads((latest / "trainer_state.json").read_text())
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert steps == list(range(1, state["global_step"] + 1))  # saved at the last step it trained
