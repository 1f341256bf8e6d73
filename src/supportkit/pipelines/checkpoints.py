"""Training checkpoints: written atomically, kept last-K plus best, resumed exactly.

A checkpoint directory ``checkpoint-000120/`` holds

* ``adapter/``: what ``model.save_model`` writes (adapter weights in safetensors, or the whole model
  for full fine-tuning), loadable on its own;
* ``training_state.pt``: optimizer, scheduler and RNG states: tensors and plain containers only,
  always loaded with ``torch.load(..., weights_only=True)`` (never unpickled);
* ``trainer_state.json``: step, epoch, position in the epoch, per-step losses, best metric, and the
  fingerprints of the data and config it was trained with (a resume with other data or config is
  refused unless forced);
* ``manifest.json`` (written last): every other file's size and sha256.

``resume_from=auto`` takes the newest checkpoint that passes :func:`verify_checkpoint` and warns,
naming the damaged file, about every newer one it had to skip.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import shutil
import struct
import time
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from supportkit.errors import SupportKitError, WriteError
from supportkit.utils.atomic import atomic_directory, clean_all_stale_temporaries
from supportkit.utils.hashing import sha256_file

log = logging.getLogger(__name__)

PATTERN = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"
TENSORS_FILE = "training_state.pt"
MANIFEST_FILE = "manifest.json"


class ResumeError(SupportKitError):
    """A checkpoint cannot be resumed (missing, corrupt, or made with other data or config)."""


class CheckpointCorruptError(ResumeError):
    """A checkpoint file is missing, truncated or damaged; the message names the file."""


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
    """Writes ``checkpoint-NNNNNN/`` directories under ``output_dir``, keeps the last ``keep_last``
    plus the best one, and finds the newest intact one to resume from."""

    def __init__(self, output_dir: str | Path, *, keep_last: int, greater_is_better: bool) -> None:
        self.output_dir = Path(output_dir)
        self.keep_last = keep_last
        self.greater_is_better = greater_is_better
        with writing(self.output_dir):
            self.output_dir.mkdir(parents=True, exist_ok=True)
        for path in clean_all_stale_temporaries(self.output_dir):
            log.warning("removed the leftovers of an interrupted checkpoint write: %s", path)

    def checkpoints(self) -> list[Path]:
        """Every ``checkpoint-N`` directory, oldest first (intact or not)."""
        found = [p for p in self.output_dir.iterdir() if PATTERN.match(p.name) and p.is_dir()]
        return sorted(found, key=lambda p: int(PATTERN.match(p.name).group(1)))  # type: ignore[union-attr]

    def latest(self) -> Path | None:
        """The newest intact checkpoint, or ``None`` when there is none at all.

        Raises :class:`ResumeError` when checkpoints exist but every one is damaged (starting over
        silently would throw their work away).
        """
        found = self.checkpoints()
        problems: list[str] = []
        for path in reversed(found):
            try:
                verify_checkpoint(path)
            except CheckpointCorruptError as exc:
                log.warning("%s; falling back to the previous checkpoint", exc)
                problems.append(str(exc))
                continue
            return path
        if found:
            raise ResumeError(
                f"no intact checkpoint in {self.output_dir}: {'; '.join(problems)}. Delete the damaged "
                "checkpoint directories to start over, or resume from a copy"
            )
        return None

    def save(self, model: Any, optimizer: Any, scheduler: Any, state: TrainerState) -> Path:
        """Write the checkpoint of ``state.global_step`` atomically; raises :class:`WriteError`
        (naming the checkpoint) when the disk is full or read-only."""
        import torch

        target = self.output_dir / f"checkpoint-{state.global_step:06d}"
        with writing(target), atomic_directory(target, overwrite=True) as tmp:
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
            write_manifest(tmp)
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
        """The trainer state and the optimizer/scheduler/RNG tensors of a verified checkpoint."""
        import torch

        verify_checkpoint(path)
        try:
            data = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
            tensors = torch.load(path / TENSORS_FILE, weights_only=True, map_location="cpu")
        except (OSError, ValueError, RuntimeError) as exc:
            raise CheckpointCorruptError(f"cannot resume from {path}: {exc}") from exc
        known = set(TrainerState.__dataclass_fields__)
        return TrainerState(**{k: v for k, v in data.items() if k in known}), tensors


#: Where a run that starts over (no resume) moves an earlier run's outputs, under ``output_dir``.
EARLIER_RUNS = "earlier-runs"
#: An earlier run's files that a new run would overwrite (besides its ``checkpoint-N`` directories).
RUN_FILES = ("metrics.jsonl", "summary.json")


def set_aside_earlier_run(output_dir: str | Path) -> Path | None:
    """Move an earlier run's ``checkpoint-N`` directories, ``metrics.jsonl`` and ``summary.json``
    from ``output_dir`` into ``output_dir/earlier-runs/<UTC time>/``, before a run that starts over.

    Left in place, the earlier checkpoints would break the new run: rotation keeps the highest step
    numbers (so a longer earlier run's checkpoints made the new ones be deleted as they were
    written), and ``resume_from=auto`` would pick them. Nothing is deleted: resume the earlier run
    with ``resume_from=<that folder>/checkpoint-N``. Returns the folder, or ``None`` when there was
    no checkpoint (a log without checkpoints is the new run's to replace).

    Raises :class:`~supportkit.errors.WriteError` naming the folder when it cannot be written.
    """
    root = Path(output_dir)
    found = [p for p in root.iterdir() if PATTERN.match(p.name) and p.is_dir()] if root.is_dir() else []
    if not found:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    target, n = root / EARLIER_RUNS / stamp, 1
    while target.exists():  # two restarts within a second
        n += 1
        target = root / EARLIER_RUNS / f"{stamp}-{n}"
    with writing(target):
        target.mkdir(parents=True)
        for path in [*found, *(root / name for name in RUN_FILES)]:
            if path.exists():
                path.rename(target / path.name)
    log.warning(
        "%s held %d checkpoint(s) of an earlier run: moved to %s (this run starts over; resume that one "
        "with resume_from=<its checkpoint>, or delete the folder)",
        root,
        len(found),
        target,
    )
    return target


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` (no space left, read-only, ...) into a
    :class:`WriteError` that names it."""
    try:
        yield
    except WriteError:
        raise
    except OSError as exc:
        detail = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        raise WriteError(
            f"cannot write {path}: {detail}{where}. Free some space or choose a writable "
            "training.output_dir, then resume with --resume auto"
        ) from exc


def write_manifest(directory: Path) -> None:
    """Record every file's size and sha256 in ``directory/manifest.json``."""
    files = {
        str(p.relative_to(directory)): {"size": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != MANIFEST_FILE
    }
    (directory / MANIFEST_FILE).write_text(json.dumps({"files": files}, indent=1), encoding="utf-8")


def verify_checkpoint(path: Path) -> None:
    """Check every file of a checkpoint without loading it: the manifest's sizes and hashes (when
    there is one), each safetensors header and length, the state JSON, the tensors archive.

    Raises :class:`CheckpointCorruptError` naming the first bad file.
    """
    path = Path(path)
    manifest_file = path / MANIFEST_FILE
    if manifest_file.is_file():
        try:
            manifest = json.loads(manifest_file.read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointCorruptError(f"checkpoint file {manifest_file} is damaged: {exc}") from exc
        for name, entry in manifest.items():
            _check_listed(path / name, entry)
    for name in (STATE_FILE, TENSORS_FILE, "adapter"):
        if not (path / name).exists():
            raise CheckpointCorruptError(f"checkpoint {path} is incomplete: {path / name} is missing")
    try:
        json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointCorruptError(f"checkpoint file {path / STATE_FILE} is damaged: {exc}") from exc
    try:
        with zipfile.ZipFile(path / TENSORS_FILE) as archive:
            bad = archive.testzip()
    except (OSError, zipfile.BadZipFile) as exc:
        raise CheckpointCorruptError(f"checkpoint file {path / TENSORS_FILE} is damaged: {exc}") from exc
    if bad is not None:
        raise CheckpointCorruptError(f"checkpoint file {path / TENSORS_FILE} is damaged (entry {bad})")
    for file in sorted(path.rglob("*.safetensors")):
        check_safetensors(file)


def _check_listed(file: Path, entry: dict[str, Any]) -> None:
    if not file.is_file():
        raise CheckpointCorruptError(f"checkpoint file {file} is missing")
    size = file.stat().st_size
    if size != entry.get("size"):
        raise CheckpointCorruptError(
            f"checkpoint file {file} is truncated or damaged: {size} bytes, {entry.get('size')} written"
        )
    if entry.get("sha256") and sha256_file(file) != entry["sha256"]:
        raise CheckpointCorruptError(
            f"checkpoint file {file} is damaged: its sha256 differs from the manifest"
        )


def check_safetensors(file: Path) -> None:
    """Raise :class:`CheckpointCorruptError` unless ``file``'s header parses and its tensors end
    exactly at the end of the file (a truncated or padded file does not)."""
    try:
        with file.open("rb") as fh:
            raw = fh.read(8)
            (header_len,) = struct.unpack("<Q", raw) if len(raw) == 8 else (None,)
            if header_len is None or header_len > 100 * 2**20:
                raise ValueError("no valid header length")
            header = json.loads(fh.read(header_len))
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise CheckpointCorruptError(f"checkpoint file {file} is damaged: unreadable header ({exc})") from exc
    expected = 8 + header_len + max(ends, default=0)
    size = file.stat().st_size
    if size != expected:
        raise CheckpointCorruptError(
            f"checkpoint file {file} is truncated or damaged: {size} bytes, its header needs {expected}"
        )
