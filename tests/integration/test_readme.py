"""The README's strategy examples are exactly what the script generates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_readme_strategy_examples_match_the_generator() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_examples.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_demo_quick_mode_answers_with_every_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    from supportkit.cli import main

    assert main(["demo", "--quick"]) == 0
    out = capsys.readouterr().out
    for strategy in ("zero_shot", "few_shot", "cot", "role_context", "combined"):
        assert f"  [{strategy}] " in out
    assert "few-shot bank: 30 examples; prompt set retail@1.1" in out and "demo finished in" in out
