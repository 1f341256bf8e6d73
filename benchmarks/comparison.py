"""Shared by the comparison benchmarks: run ``supportkit compare`` with a config (or read the report
such a run wrote) and turn it into a BENCHMARKS.md result with the targets checked."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.datasets import ROOT, tiny_model_dir
from benchmarks.harness import machine_info, write_result

QUICK = [
    "training.max_steps=1",
    "training.warmup_steps=0",  # a one-step run would never leave warmup (refused)
    "training.batch_size=2",
    "evaluation.max_examples=4",
    "evaluation.methods=[none, lora]",
    "evaluation.tuned_strategies=[zero_shot]",
    "evaluation.leave_out_intents=[]",
    "generation.max_new_tokens=4",
    "data.dedup_threshold=null",
]


def systems_for(
    config_name: str,
    overrides: Sequence[str],
    quick: bool,
    report: Path | None,
    extra_reports: Sequence[Path] = (),
) -> list[Any]:
    """The systems of a fresh run, or of finished runs' reports (``report`` plus ``extra_reports``,
    e.g. the same comparison with a longer training budget: their systems are appended, and
    systems of the same name are told apart by their training steps)."""
    if report is not None and extra_reports:
        return merge_systems([report, *extra_reports])
    from supportkit.config import Config
    from supportkit.data.project import use_example_store
    from supportkit.evaluation.report import load_systems
    from supportkit.recipes.compare import run_configured_comparison

    if report is not None:
        return load_systems(report / "report.json")
    if extra_reports:
        raise ValueError("--also-report records a further finished run next to --report")
    config = Config.from_yaml(ROOT / "configs" / config_name).with_overrides(overrides)
    work = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    if quick:
        config = config.with_overrides(
            [
                *QUICK,
                f"model.name_or_path={tiny_model_dir(work)}",
                f"data.train_file={ROOT / 'data' / 'store' / 'conversations.jsonl'}",
            ]
        )
    result = run_configured_comparison(use_example_store(config), out_dir=work / "report", progress=False)
    return result.systems


def merge_systems(reports: Sequence[Path]) -> list[Any]:
    from supportkit.evaluation.report import load_systems

    systems = [s for r in reports for s in load_systems(r / "report.json")]
    names = [s.name for s in systems]
    for s in systems:
        steps = s.info.get("train_steps")
        if names.count(s.name) > 1 and steps:
            method, sep, rest = s.name.partition(" + ")
            s.name = f"{method} ({steps} steps){sep}{rest}"
    return systems


def comparison_result(
    systems: list[Any], *, title: str, command: str, checks: Callable[[list[Any]], list[str]]
) -> dict[str, Any]:
    from supportkit.evaluation.compare import comparison_pairs
    from supportkit.evaluation.evaluator import add_metrics
    from supportkit.evaluation.report import compare, summary_rows

    for system in systems:  # reports written before the metric existed
        if "detail_recall" not in system.metrics:
            add_metrics(system, ["detail_recall"])
    plain = [s for s in systems if not s.info.get("other_questions")]
    metrics = ["rougeL", "similarity"]
    # detail recall only where references have details (Bitext answers hold {{placeholders}} instead)
    if plain and plain[0].metrics["detail_recall"].n >= len(plain[0].rows) / 5:
        metrics.append("detail_recall")
    diffs = compare(plain, comparison_pairs(plain), metrics)
    return {
        "title": title,
        "command": command,
        "machine": machine_info(),
        "model": "SmolLM2-135M-Instruct (bundled), fp32, CPU, greedy",
        "rows": summary_rows(systems, (*metrics, "bleu", "intent_accuracy", "ttft_s", "latency_s")),
        "tables": [
            {
                "title": "Paired differences (95 % bootstrap interval of the mean per-question difference)",
                "rows": difference_rows(diffs),
            }
        ],
        "notes": [_coverage(plain[0].rows), *checks(systems)],
    }


def difference_rows(diffs: Sequence[Any]) -> list[dict[str, str]]:
    """Paired differences as table rows: system, vs, metric, difference [interval], significant."""
    return [
        {
            "system": d.a,
            "vs": d.b,
            "metric": d.metric,
            "difference": d.difference.format(),
            "significant": "yes" if d.difference.excludes_zero() else "no",
        }
        for d in diffs
    ]


def _coverage(rows: list[dict[str, Any]]) -> str:
    from supportkit.evaluation.sampling import intents_covered

    covered = intents_covered(rows, key=lambda r: r.get("intent"))
    return f"{len(rows)} held-out questions per system, covering {len(covered)} intents."


def main(name: str, run: Callable[..., dict[str, Any]], doc: str, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report", type=Path, default=None, help="record the report of a finished run")
    parser.add_argument(
        "--also-report",
        type=Path,
        action="append",
        default=[],
        help="with --report: add the systems of another finished run of the same split (repeatable)",
    )
    args = parser.parse_args(argv)
    result = run(quick=args.quick, report=args.report, extra_reports=args.also_report)
    print(write_result(name, result, quick=args.quick))


def by_name(systems: list[Any], name: str) -> Any:
    return next((s for s in systems if s.name == name), None)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"
