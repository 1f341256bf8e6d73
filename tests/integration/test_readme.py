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
def test_demo_quick_mode_trains_evaluates_answers_and_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from supportkit.cli import main

    out_dir = tmp_path / "demo"
    assert (
        main(
            [
                "demo",
                "--quick",
                f"training.output_dir={out_dir / 'train'}",
                f"evaluation.output_dir={out_dir / 'report'}",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    for step in ("1. Fine-tuning LoRA", "2. Evaluating", "3. Sample answers", "4. Report:"):
        assert step in out
    for system in ("base (untuned) + zero_shot", "LoRA + zero_shot", "nearest-neighbour baseline"):
        assert system in out
    for strategy in ("zero_shot", "few_shot", "cot", "role_context", "knowledge", "combined"):
        assert f"  [{strategy}] " in out
    assert "retrieved: Returns policy" in out and "ESCALATED (human_request)" in out
    assert "demo finished in" in out
    report = out_dir / "report"
    assert (report / "report.html").is_file() and (report / "plots" / "training.png").is_file()
    assert (out_dir / "adapter" / "adapter_model.safetensors").is_file()
