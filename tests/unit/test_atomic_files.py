"""Atomic single-file writes (manifests, vector files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from supportkit.utils.atomic import atomic_write_bytes, atomic_write_text


def test_atomic_write_replaces_and_leaves_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "manifest.json"
    atomic_write_text(target, "first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["manifest.json"]


def test_atomic_write_failure_names_the_path_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "data.npy"
    atomic_write_bytes(target, b"old")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(OSError, match="not-a-folder"):
        atomic_write_bytes(blocker / "file.npy", b"new")
    (tmp_path / "dir-in-the-way").mkdir()
    with pytest.raises(OSError, match="dir-in-the-way"):
        atomic_write_bytes(tmp_path / "dir-in-the-way", b"new")  # rename onto a folder fails
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.npy", "dir-in-the-way", "not-a-folder"]
