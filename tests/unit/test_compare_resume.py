"""``supportkit compare`` resumes from its own report; a changed setting is refused (tiny model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from supportkit.config import Config
from supportkit.errors import ConfigError
from supportkit.evaluation.evaluator import EvalExample, Evaluator
from supportkit.evaluation.report import write_report
from supportkit.evaluation.resume import comparison_settings, finished_systems
from supportkit.retrieval.embedder import HashingEmbedder
from tests.unit.test_evaluation import EXAMPLES, _cli_overrides


def _report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "report" / "report.json").read_text())


def test_a_rerun_keeps_finished_systems_and_runs_only_the_new_ones(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supportkit.cli import main

    base = ["--quiet", *_cli_overrides(tiny_model_dir, tmp_path), "evaluation.strategies=[zero_shot]"]
    assert main(["compare", *base, "evaluation.methods=[none]"]) == 0
    first = capsys.readouterr().out
    assert "preparing: reading and splitting" in first and "none + zero_shot: answering 4 questions" in first
    data = _report(tmp_path)
    assert data["settings"]["training.max_steps"] == 1
    # mark the finished system: a rerun that evaluated it again would overwrite the mark
    data["systems"][0]["info"]["generation_s"] = -1.0
    (tmp_path / "report" / "report.json").write_text(json.dumps(data))

    assert main(["compare", *base, "evaluation.methods=[none, lora]"]) == 0
    second = capsys.readouterr().out
    assert "resuming" in second and "to run: lora" in second
    assert "none + zero_shot: answering" not in second and "lora + zero_shot: answering" in second
    after = _report(tmp_path)
    names = [s["name"] for s in after["systems"]]
    assert names == ["none + zero_shot", "lora + zero_shot", "nearest-neighbour baseline"]
    assert after["systems"][0]["info"]["generation_s"] == -1.0
    assert after["systems"][0]["rows"] == data["systems"][0]["rows"]
    assert ("lora + zero_shot", "none + zero_shot") in {(c["a"], c["b"]) for c in after["comparisons"]}

    # a grid that no longer names a finished method keeps it in the report
    assert main(["compare", *base, "evaluation.methods=[none]"]) == 0
    kept = [s["name"] for s in _report(tmp_path)["systems"]]
    assert kept == ["none + zero_shot", "nearest-neighbour baseline", "lora + zero_shot"]
    capsys.readouterr()

    # another budget: refused with what changed, unless restarted
    assert main(["compare", *base, "evaluation.methods=[none]", "training.max_steps=2"]) != 0
    err = capsys.readouterr().err
    assert "training.max_steps: 1 -> 2" in err and "--restart" in err
    assert main(["compare", *base, "evaluation.methods=[none]", "training.max_steps=2", "--restart"]) == 0
    restarted = _report(tmp_path)
    assert [s["name"] for s in restarted["systems"]] == ["none + zero_shot", "nearest-neighbour baseline"]
    assert restarted["systems"][0]["info"]["generation_s"] != -1.0


def test_the_in_progress_report_has_the_paired_differences(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupted run keeps its differences too: they are written with every system."""
    from supportkit.cli import main
    from supportkit.evaluation import report as report_module

    written: list[dict] = []
    real = report_module.write_report

    def keep(out_dir: object, systems: list, **kw: object) -> object:
        paths = real(out_dir, systems, **kw)  # type: ignore[arg-type]
        written.append(json.loads(Path(paths.json).read_text()))
        return paths

    monkeypatch.setattr(report_module, "write_report", keep)
    args = [
        "compare",
        *_cli_overrides(tiny_model_dir, tmp_path),
        "evaluation.strategies=[zero_shot, few_shot]",
    ]
    assert main([*args, "evaluation.methods=[none]", "evaluation.baselines=[]", "--quiet"]) == 0
    in_progress = [w for w in written if w["title"] == "Comparison (in progress)"]
    assert len(in_progress) == 2
    assert in_progress[0]["comparisons"] == []
    assert {(c["a"], c["b"]) for c in in_progress[1]["comparisons"]} == {
        ("none + few_shot", "none + zero_shot")
    }


def test_finished_systems_needs_the_same_settings(tmp_path: Path) -> None:
    config = Config()
    settings = comparison_settings(config, 10)
    evaluator = Evaluator(None, embedder=HashingEmbedder(), resamples=50)
    system = evaluator.score_predictions("a", EXAMPLES, [e.reference for e in EXAMPLES])
    assert finished_systems(tmp_path / "report.json", settings) == []  # no report yet
    write_report(tmp_path, [system], settings=settings)
    assert [s.name for s in finished_systems(tmp_path / "report.json", settings)] == ["a"]
    # choosing other systems is no change of settings
    other = ["evaluation.methods=[lora]", "serving.max_queue=9", "training.output_dir=x"]
    grid = comparison_settings(config.with_overrides(other), 10)
    assert [s.name for s in finished_systems(tmp_path / "report.json", grid)] == ["a"]
    # a report from before a setting existed resumes while that setting is at its default
    older = {k: v for k, v in settings.items() if k != "generation.prefix_cache_mb"}
    write_report(tmp_path, [system], settings=older)
    assert [s.name for s in finished_systems(tmp_path / "report.json", settings)] == ["a"]
    changed = comparison_settings(config.with_overrides(["generation.prefix_cache_mb=64"]), 10)
    with pytest.raises(ConfigError, match=r"generation.prefix_cache_mb: None -> 64"):
        finished_systems(tmp_path / "report.json", changed)
    # a report that recorded serving settings too (an earlier version) still resumes
    write_report(tmp_path, [system], settings={**settings, "serving.max_queue": 1})
    assert [s.name for s in finished_systems(tmp_path / "report.json", settings)] == ["a"]
    with pytest.raises(ConfigError, match=r"evaluation.max_examples: 10 -> 20"):
        finished_systems(tmp_path / "report.json", comparison_settings(config, 20))
    assert finished_systems(tmp_path / "report.json", comparison_settings(config, 20), restart=True) == []
    write_report(tmp_path, [system])  # an old report: no settings recorded
    with pytest.raises(ConfigError, match="records no settings"):
        finished_systems(tmp_path / "report.json", settings)


def test_differences_of_a_report_read_back_skip_rows_where_a_metric_does_not_apply(tmp_path: Path) -> None:
    """detail_recall is NaN for a reference without details; report.json stores it as null."""
    from supportkit.evaluation.report import compare, load_systems

    examples = [*EXAMPLES, EvalExample("hello", "Happy to help with anything you need.", "greeting")]
    evaluator = Evaluator(None, embedder=HashingEmbedder(), resamples=50)
    a = evaluator.score_predictions("a", examples, [e.reference for e in examples])
    b = evaluator.score_predictions("b", examples, ["no"] * len(examples))
    write_report(tmp_path, [a, b])
    read = load_systems(tmp_path / "report.json")
    assert None in [r["detail_recall"] for r in read[0].rows]
    diff = compare(read, [("a", "b")], ["detail_recall"])[0].difference
    assert diff.n == sum(r["detail_recall"] is not None for r in read[0].rows) and diff.mean > 0


def test_a_method_with_finished_systems_is_not_trained_again(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run stopped after a method's first strategy resumes from its final checkpoint, keeps the
    training measurements and the training log; ``--restart`` trains from scratch."""
    from supportkit.cli import main

    base = [
        "--quiet",
        *_cli_overrides(tiny_model_dir, tmp_path),
        "evaluation.methods=[lora]",
        "evaluation.baselines=[]",
        "training.max_steps=2",
    ]
    assert main(["compare", *base, "evaluation.strategies=[zero_shot]"]) == 0
    train = tmp_path / "report" / "train" / "lora"
    log_before = (train / "metrics.jsonl").read_text()
    assert len(log_before.splitlines()) == 2
    data = _report(tmp_path)
    data["systems"][0]["info"]["train_time_s"] = -1.0  # a retrain would measure its own time
    (tmp_path / "report" / "report.json").write_text(json.dumps(data))
    capsys.readouterr()

    assert main(["compare", *base, "evaluation.strategies=[zero_shot, few_shot]"]) == 0
    out = capsys.readouterr().out
    assert "lora + few_shot: answering" in out and "lora + zero_shot: answering" not in out
    summary = json.loads((train / "summary.json").read_text())
    assert summary["resumed_from"] is not None and summary["steps"] == 2
    assert (train / "metrics.jsonl").read_text() == log_before  # no step trained or logged twice
    after = _report(tmp_path)
    new = next(s for s in after["systems"] if s["name"] == "lora + few_shot")
    assert new["info"]["train_time_s"] == -1.0 and new["info"]["train_steps"] == 2
    assert "train_resumed_at_step" not in new["info"]
    assert [r["step"] for r in after["training_logs"]["lora"]] == [1, 2]  # the loss curve is kept

    stale = train / "checkpoint-000009"  # a longer earlier run's: it would stay the newest
    shutil.copytree(train / "checkpoint-000002", stale)
    assert main(["compare", *base, "evaluation.strategies=[zero_shot]", "--restart"]) == 0
    assert json.loads((train / "summary.json").read_text())["resumed_from"] is None
    assert not stale.exists() and (train / "checkpoint-000002").is_dir()
    aside = sorted(p.name for p in train.glob("earlier-runs/*/checkpoint-*"))
    assert aside == ["checkpoint-000002", "checkpoint-000009"]
    assert _report(tmp_path)["systems"][0]["info"]["train_time_s"] != -1.0

    # the report deleted, the checkpoints of other settings kept: the error says how to start over
    (tmp_path / "report" / "report.json").unlink()
    assert main(["compare", *base, "evaluation.strategies=[zero_shot]", "training.learning_rate=0.5"]) != 0
    err = capsys.readouterr().err
    assert "other data or config" in err or "different" in err
    assert "--restart" in err and "force_resume" in err  # the trainer's words, then the comparison's way out
