"""Training checkpoints: written atomically, kept last-K plus best, resumed exactly.

A checkpoint directory ``checkpoint-000120/`` holds

* ``adapter/``: what ``model.save_model`` writes (adapter weights in safetensors, or the whole model
  for full fine-tuning), loadable on its own;
* ``training_state.pt``: optimizer, scheduler and RNG states: tensors and plain containers only,
  always loaded with ``torch.load(..., weights_only=True)`` (never unpickled);
* ``trainer_state.json``: step, epoch, position in the epoch, per-step losses, best metric, and the
  fingerprints of the data and config it was trained with (a resume with other data or config is
  refused unless forced).
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from supportkit.errors import SupportKitError
from supportkit.utils.atomic import atomic_directory, clean_all_stale_temporaries

log = logging.getLogger(__name__)

PATTERN = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"
TENSORS_FILE = "training_state.pt"


class ResumeError(SupportKitError):
    """A checkpoint cannot be resumed (missing, corrupt, or made with other data or config)."""


@dataclass
class TrainerState:
    global_step: int = 0
    epoch: int = 0
    #: Micro-batches of ``epoch`` already consumed (all processes together).
    batches_done: int = 0
    losses: list[float] = field(default_factory=list)
    best_metric: float | None = None
    best_step: int | None = None
    evaluations: list[dict[str, float]] = field(default_factory=list)
    data_fingerprint: str = ""
    config_fingerprint: str = ""
    world_size: int = 1
    tokens_seen: int = 0


def rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    version, internal, gauss = random.getstate()
    np_state: Any = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointManager:
    def __init__(self, output_dir: str | Path, *, keep_last: int, greater_is_better: bool) -> None:
        self.output_dir = Path(output_dir)
        self.keep_last = keep_last
        self.greater_is_better = greater_is_better
        self.output_dir.mkdir(parents=True, exist_ok=True)
        for path in clean_all_stale_temporaries(self.output_dir):
            log.warning("removed the leftovers of an interrupted checkpoint write: %s", path)

    def checkpoints(self) -> list[Path]:
        found = [p for p in self.output_dir.iterdir() if PATTERN.match(p.name) and (p / STATE_FILE).is_file()]
        return sorted(found, key=lambda p: int(PATTERN.match(p.name).group(1)))  # type: ignore[union-attr]

    def latest(self) -> Path | None:
        checkpoints = self.checkpoints()
        return checkpoints[-1] if checkpoints else None

    def save(self, model: Any, optimizer: Any, scheduler: Any, state: TrainerState) -> Path:
        import torch

        target = self.output_dir / f"checkpoint-{state.global_step:06d}"
        with atomic_directory(target, overwrite=True) as tmp:
            model.save_model(tmp / "adapter")
            torch.save(
                {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": rng_state(),
                },
                tmp / TENSORS_FILE,
            )
            (tmp / STATE_FILE).write_text(json.dumps(asdict(state), indent=1), encoding="utf-8")
        self._prune(state)
        return target

    def _prune(self, state: TrainerState) -> None:
        keep = set(self.checkpoints()[-self.keep_last :])
        if state.best_step is not None:
            keep.add(self.output_dir / f"checkpoint-{state.best_step:06d}")
        for path in self.checkpoints():
            if path not in keep:
                shutil.rmtree(path, ignore_errors=True)

    @staticmethod
    def load(path: Path) -> tuple[TrainerState, dict[str, Any]]:
        import torch

        try:
            data = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
            tensors = torch.load(path / TENSORS_FILE, weights_only=True, map_location="cpu")
        except (OSError, ValueError, RuntimeError) as exc:
            raise ResumeError(f"cannot resume from {path}: {exc}") from exc
        known = set(TrainerState.__dataclass_fields__)
        return TrainerState(**{k: v for k, v in data.items() if k in known}), tensors
