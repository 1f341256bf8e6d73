"""CLI subcommands owned by evaluation: ``eval`` (one model, its strategies), ``compare`` (the grid
of adaptation methods x strategies with baselines) and ``demo`` (the end-to-end tour). All write
JSON/Markdown/HTML reports."""

from __future__ import annotations

import argparse
import time
from typing import Any

from supportkit.cli import add_config_arguments, command, load_config
from supportkit.data.project import apply_project_defaults


def _configure(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--limit", type=int, default=None, help="evaluate at most this many examples")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def print_summary(systems: list[Any]) -> None:
    from supportkit.evaluation.report import summary_rows

    rows = summary_rows(systems)
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in rows[0]}
    print("  ".join(c.ljust(widths[c]) for c in rows[0]))
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in r))


@command("eval", "evaluate the configured model on the held-out split; write a report", _configure)
def run_eval(args: argparse.Namespace) -> int:
    from supportkit.evaluation.compare import evaluate_baseline, load_eval_data, train_bank
    from supportkit.evaluation.evaluator import Evaluator
    from supportkit.evaluation.report import write_report
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.inference import InferencePipeline

    started = time.perf_counter()
    config = apply_project_defaults(load_config(args))
    e = config.evaluation
    data = load_eval_data(config, split=e.split, limit=args.limit or e.max_examples)
    model = PEFTModel.from_saved(e.adapter, config) if e.adapter else PEFTModel(config)
    pipeline = InferencePipeline(model, config, bank=train_bank(data.train))
    evaluator = Evaluator(pipeline, intent_reference=data.train, resamples=e.bootstrap_resamples)
    label = e.adapter or f"{config.model.name_or_path} ({model.method})"
    systems = [
        evaluator.evaluate(
            data.test,
            name=f"{model.method} + {s}",
            strategy=s,
            info={"model": label},
            progress=not args.quiet,
        )
        for s in e.strategies
    ]
    systems += [evaluate_baseline(b, data, evaluator) for b in e.baselines]
    pairs = [(s.name, systems[0].name) for s in systems[1:]]
    paths = write_report(e.output_dir, systems, title=f"Evaluation: {label}", comparisons=pairs)
    print_summary(systems)
    print(
        f"\nreport: {paths.html} (also {paths.markdown.name}, {paths.json.name}); "
        f"{len(data.test)} examples in {time.perf_counter() - started:.0f} s"
    )
    return 0


@command("compare", "train and evaluate adaptation methods x prompt strategies; write a report", _configure)
def run_compare(args: argparse.Namespace) -> int:
    from supportkit.evaluation.compare import run_configured_comparison
    from supportkit.evaluation.report import write_report

    started = time.perf_counter()
    config = apply_project_defaults(load_config(args))
    e = config.evaluation
    done: list[Any] = []

    def finished(system: Any) -> None:
        # a report after every system: an interrupted run keeps what it measured
        done.append(system)
        print(f"  {system.name}: rougeL {system.metrics['rougeL'].format()}", flush=True)
        write_report(e.output_dir, done, title="Comparison (in progress)")

    result = run_configured_comparison(
        config, out_dir=e.output_dir, progress=not args.quiet, limit=args.limit, on_system=finished
    )
    paths = write_report(
        e.output_dir,
        result.systems,
        title="Comparison of adaptation methods and prompt strategies",
        comparisons=result.pairs,
        training_logs=result.training_logs,
        notes=[f"Command: supportkit compare {args.config or ''} {' '.join(args.overrides or [])}".strip()],
    )
    print_summary(result.systems)
    print(f"\nreport: {paths.html}; finished in {time.perf_counter() - started:.0f} s")
    return 0


def _configure_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("overrides", nargs="*", help="dotted overrides of configs/demo.yaml")
    p.add_argument("--quick", action="store_true", help="tiny budgets (2 steps, 4 questions), for tests")


@command(
    "demo", "fine-tune, evaluate base vs tuned vs baseline, answer samples, write a report", _configure_demo
)
def run_demo(args: argparse.Namespace) -> int:
    from supportkit.demo import demo_config
    from supportkit.demo import run_demo as demo

    demo(demo_config(args.quick, args.overrides), quick=args.quick)
    return 0
