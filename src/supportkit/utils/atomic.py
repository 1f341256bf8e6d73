"""Atomic directory writes: build in a temporary sibling, fsync, then rename into place.

A reader never sees a half-written directory: either the old one, the new one, or none. Leftover
temporaries of a writer that died (SIGKILL, power loss) are removed by the next writer.

Fault injection for tests: ``SUPPORTKIT_FAULT_INJECT=kill_after_files:N`` (or ``raise_after_files:N``)
kills the process with SIGKILL (or raises ``OSError``) after the N-th file of the directory has
been made durable, i.e. at an exact point before the rename that commits the write.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

FAULT_ENV = "SUPPORTKIT_FAULT_INJECT"
_TMP_MARK = ".tmp-"
_OLD_MARK = ".old-"


def _fault_point() -> tuple[str, int] | None:
    spec = os.environ.get(FAULT_ENV, "").strip()
    if not spec:
        return None
    action, _, count = spec.partition(":")
    if action not in ("kill_after_files", "raise_after_files") or not count.isdigit():
        raise ValueError(f"{FAULT_ENV}={spec!r}: expected kill_after_files:N or raise_after_files:N")
    return action, int(count)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> int:
    """fsync every file and directory below ``root``; returns the number of files."""
    fault = _fault_point()
    count = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in sorted(filenames):
            _fsync_path(Path(dirpath) / name)
            count += 1
            if fault and count == fault[1]:
                if fault[0] == "kill_after_files":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise OSError(f"injected fault after {count} file(s) ({FAULT_ENV})")
        _fsync_path(Path(dirpath))
    return count


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(parent: Path, name: str) -> list[Path]:
    """Remove temporaries left next to ``parent/name`` by writers that are no longer running."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for mark in (_TMP_MARK, _OLD_MARK):
        prefix = f".{name}{mark}"
        for entry in parent.iterdir():
            if not entry.name.startswith(prefix):
                continue
            pid_text = entry.name[len(prefix) :].split("-", 1)[0]
            if pid_text.isdigit() and _pid_alive(int(pid_text)) and int(pid_text) != os.getpid():
                continue  # another writer is still working on it
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
            log.info("removed leftover of an interrupted write: %s", entry)
    return removed


def clean_all_stale_temporaries(parent: Path) -> list[Path]:
    """Remove every leftover temporary in ``parent`` whose writer is no longer running."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for entry in parent.iterdir():
        for mark in (_TMP_MARK, _OLD_MARK):
            if entry.name.startswith(".") and mark in entry.name:
                name = entry.name[1:].split(mark, 1)[0]
                removed.extend(clean_stale_temporaries(parent, name))
                break
    return removed


@contextlib.contextmanager
def atomic_directory(target: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces ``target`` atomically.

    Raises ``FileExistsError`` if ``target`` appeared meanwhile and ``overwrite`` is false (for
    caches: another process finished first, and its result is as good as ours).
    """
    target = Path(target)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(parent, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP_MARK}{os.getpid()}-", dir=parent))
    try:
        yield tmp
        fsync_tree(tmp)
        if target.exists():
            if not overwrite:
                raise FileExistsError(f"{target} already exists")
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}{_OLD_MARK}{os.getpid()}-", dir=parent))
            os.rename(target, old / "previous")
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.rename(tmp, target)
            except OSError as exc:  # lost a race: somebody renamed their copy in first
                if target.exists():
                    raise FileExistsError(f"{target} already exists") from exc
                raise
        _fsync_path(parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace the file ``path`` with ``data`` atomically: a reader sees the old or the new bytes.

    Written to a temporary sibling, fsynced, renamed over ``path``, then the folder is fsynced.
    Raises ``OSError`` naming ``path`` (the temporary is removed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}{_TMP_MARK}{os.getpid()}-", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_path(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, f"could not write {path}: {exc.strerror or exc}") from exc


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """:func:`atomic_write_bytes` for text."""
    atomic_write_bytes(path, text.encode(encoding))
