"""Every ```python block of README.md runs as written, in the order a reader meets them.

The blocks run in one namespace (a later block may use what an earlier one defined, as a reader
would), in a scratch folder that holds links to ``configs/`` and ``data/``, on the tiny random model:
the default ``model.name_or_path`` is pointed at it, so ``Config()`` and every YAML config without a
model load it. A block may be excluded only by an HTML comment on the line before its fence,
``<!-- readme-test: skip (why) -->``; :data:`ALLOWED_SKIPS` lists the ones allowed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from supportkit.config import ModelConfig

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<why>[^)]+)\)\s*-->")
#: The blocks that do not run here (they talk to a server); keep this list short.
ALLOWED_SKIPS = 2


def readme_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """(line of the fence, code, skip reason or ``None``) for every ```python block."""
    lines = text.splitlines()
    blocks: list[tuple[int, str, str | None]] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i + 1
            end = next(j for j in range(start, len(lines)) if lines[j].strip() == "```")
            previous = lines[i - 1] if i else ""
            skip = SKIP.search(previous)
            blocks.append((i + 1, "\n".join(lines[start:end]) + "\n", skip.group("why") if skip else None))
            i = end
        i += 1
    return blocks


def test_the_block_extractor_finds_fences_and_skip_comments() -> None:
    text = "x\n```python\na = 1\n```\n<!-- readme-test: skip (needs a server) -->\n```python\nb\n```\n"
    assert readme_blocks(text) == [(2, "a = 1\n", None), (6, "b\n", "needs a server")]


@pytest.mark.slow
def test_every_readme_python_block_runs(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    skipped = [(line, why) for line, _, why in blocks if why]
    assert len(blocks) >= 10 and len(skipped) <= ALLOWED_SKIPS, skipped
    defaults = list(ModelConfig.__init__.__defaults__ or ())
    defaults[0] = str(tiny_model_dir)  # name_or_path: the tiny model instead of the bundled one
    monkeypatch.setattr(ModelConfig.__init__, "__defaults__", tuple(defaults))
    for name in ("configs", "data"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme"}
    for line, code, why in blocks:
        if why:
            continue
        try:
            exec(compile(code, f"README.md:{line}", "exec"), namespace)
        except Exception as exc:  # say which block failed, keeping the traceback
            raise AssertionError(f"README.md block at line {line} fails as written: {exc!r}") from exc
    assert (tmp_path / "out" / "merged" / "config.json").is_file()
    assert (tmp_path / "reports" / "run" / "report.html").is_file()
