"""Evaluation commands, thin wrappers around the recipes: ``eval`` (one model, its strategies),
``compare`` (the grid of adaptation methods x strategies with baselines) and ``demo`` (the
end-to-end tour). All write JSON/Markdown/HTML reports."""

from __future__ import annotations

import argparse
import time
from typing import Any

from supportkit.cli import add_config_arguments, checked_config, command


def _configure(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--limit", type=int, default=None, help="evaluate at most this many examples")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


@command("eval", "evaluate the configured model on the held-out split; write a report", _configure)
def run_eval(args: argparse.Namespace) -> int:
    from supportkit.evaluation.report import format_summary, write_report
    from supportkit.recipes.evaluate import evaluate_configured

    started = time.perf_counter()
    config = checked_config(
        args, needs=("eval",), adapters=lambda c: {"evaluation.adapter": c.evaluation.adapter}
    )
    result = evaluate_configured(config, limit=args.limit, progress=not args.quiet)
    paths = write_report(
        config.evaluation.output_dir,
        result.systems,
        title=f"Evaluation: {result.label}",
        comparisons=result.pairs,
    )
    print(format_summary(result.systems))
    print(
        f"\nreport: {paths.html} (also {paths.markdown.name}, {paths.json.name}); "
        f"{result.examples} examples in {time.perf_counter() - started:.0f} s"
    )
    return 0


def _configure_compare(p: argparse.ArgumentParser) -> None:
    _configure(p)
    p.add_argument(
        "--restart",
        action="store_true",
        help="run every system again and train from scratch (default: keep the systems already in the "
        "report of the same settings, and continue training from each method's newest checkpoint)",
    )


@command(
    "compare", "train and evaluate adaptation methods x prompt strategies; write a report", _configure_compare
)
def run_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from supportkit.evaluation.compare import comparison_pairs
    from supportkit.evaluation.report import format_summary, write_report
    from supportkit.evaluation.resume import comparison_settings, finished_systems
    from supportkit.recipes.compare import run_configured_comparison

    started = time.perf_counter()
    config = checked_config(args, needs=("eval", "train"))
    e = config.evaluation
    settings = comparison_settings(config, args.limit or e.max_examples)
    finished = finished_systems(Path(e.output_dir) / "report.json", settings, restart=args.restart)
    done: list[Any] = list(finished)

    def say(line: str) -> None:
        print(f"[{time.perf_counter() - started:5.0f} s] {line}", flush=True)

    if finished:
        names = ", ".join(s.name for s in finished)
        say(f"resuming {e.output_dir}: {len(finished)} system(s) already measured ({names})")

    def on_system(system: Any) -> None:
        # a report after every system, paired differences included: an interrupted run keeps
        # what it measured, and a rerun resumes from it
        done.append(system)
        say(f"{system.name}: rougeL {system.metrics['rougeL'].format()}")
        write_report(
            e.output_dir,
            done,
            title="Comparison (in progress)",
            comparisons=comparison_pairs(done),
            settings=settings,
        )

    result = run_configured_comparison(
        config,
        out_dir=e.output_dir,
        progress=not args.quiet,
        limit=args.limit,
        on_system=on_system,
        finished=finished,
        say=say,
        resume_training=not args.restart,
    )
    paths = write_report(
        e.output_dir,
        result.systems,
        title="Comparison of adaptation methods and prompt strategies",
        comparisons=result.pairs,
        training_logs=result.training_logs,
        notes=[f"Command: supportkit compare {args.config or ''} {' '.join(args.overrides or [])}".strip()],
        settings=settings,
    )
    print(format_summary(result.systems))
    print(f"\nreport: {paths.html}; finished in {time.perf_counter() - started:.0f} s")
    return 0


def _configure_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("overrides", nargs="*", help="dotted overrides of configs/demo.yaml")
    p.add_argument("--quick", action="store_true", help="tiny budgets (2 steps, 4 questions), for tests")
    p.add_argument("--resume", default=None, help="'auto': continue an interrupted demo's training")


@command(
    "demo", "fine-tune, evaluate base vs tuned vs baseline, answer samples, write a report", _configure_demo
)
def run_demo(args: argparse.Namespace) -> int:
    from supportkit.recipes.demo import demo_config
    from supportkit.recipes.demo import run_demo as demo
    from supportkit.recipes.preflight import preflight

    config = demo_config(args.quick, args.overrides)
    preflight(config, needs=("train", "eval"))  # before the model loads
    demo(config, quick=args.quick, resume_from=args.resume)
    return 0
