import os
import subprocess
import sys
from pathlib import Path

import pytest

from supportkit.utils.atomic import FAULT_ENV, atomic_directory, clean_stale_temporaries


def _write(d: Path, n: int) -> None:
    for i in range(n):
        (d / f"f{i}.txt").write_text(str(i))


def test_success_renames_into_place(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_directory(target) as tmp:
        _write(tmp, 3)
        assert not target.exists()
    assert sorted(p.name for p in target.iterdir()) == ["f0.txt", "f1.txt", "f2.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_exception_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        _write(tmp, 2)
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_target_is_kept_unless_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_directory(target) as tmp:
        _write(tmp, 1)
    with pytest.raises(FileExistsError), atomic_directory(target) as tmp:
        _write(tmp, 2)
    assert sorted(p.name for p in target.iterdir()) == ["f0.txt"]
    with atomic_directory(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("x")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_injected_fault_after_n_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "raise_after_files:2")
    target = tmp_path / "out"
    with pytest.raises(OSError, match="injected fault after 2"), atomic_directory(target) as tmp:
        _write(tmp, 4)
    assert list(tmp_path.iterdir()) == []


def test_killed_writer_leaves_no_target_and_next_writer_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "out"
    code = (
        "import sys; from pathlib import Path\n"
        "from supportkit.utils.atomic import atomic_directory\n"
        "with atomic_directory(Path(sys.argv[1])) as tmp:\n"
        "    for i in range(5): (tmp / f'f{i}').write_text('x')\n"
    )
    env = {**os.environ, FAULT_ENV: "kill_after_files:3"}
    proc = subprocess.run([sys.executable, "-c", code, str(target)], env=env, check=False)
    assert proc.returncode == -9  # SIGKILL at the injected point
    assert not target.exists()
    leftovers = list(tmp_path.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".out.tmp-")
    assert clean_stale_temporaries(tmp_path, "out") == leftovers
    with atomic_directory(target) as tmp:
        _write(tmp, 1)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_bad_fault_spec_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "explode")
    with (
        pytest.raises(ValueError, match="kill_after_files:N"),
        atomic_directory(tmp_path / "o") as tmp,
    ):
        _write(tmp, 1)
