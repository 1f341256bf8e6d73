"""Every benchmark runs in --quick mode and produces well-formed rows (speed is never asserted)."""

import json
from pathlib import Path

import pytest
from benchmarks import report
from benchmarks.harness import interleaved, write_result
from benchmarks.run_all import discover


def test_interleaved_reports_median_ratio_and_range() -> None:
    calls: list[str] = []
    values = iter([2.0, 1.0, 4.0, 1.0, 3.0, 1.0])
    stats = interleaved(
        lambda: calls.append("a"),
        lambda: calls.append("b"),
        repeats=3,
        warmup=1,
        measure=lambda fn: (fn(), next(values))[1],
    )
    assert calls == ["a", "b"] * 4  # warm-up pair, then strictly alternating
    assert stats["ratio"] == {"median": 3.0, "min": 2.0, "max": 4.0, "n": 3}


@pytest.mark.slow
@pytest.mark.parametrize("module", discover(), ids=lambda m: m.NAME)
def test_benchmark_quick_run_writes_rows(module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("benchmarks.harness.RESULTS_DIR", tmp_path)
    result = module.run(quick=True)
    assert result["rows"] and all(isinstance(r, dict) and r for r in result["rows"])
    assert result["command"].endswith("--quick")
    assert result["machine"]["cores"] >= 1
    path = write_result(module.NAME, result, quick=True)
    assert json.loads(path.read_text())["name"] == module.NAME
    # The report generator renders full-run files; feed it this one under a full-run name.
    path.rename(tmp_path / f"{module.NAME}.json")
    text = report.render(report.load_results(tmp_path))
    assert result["title"] in text and "| " in text
