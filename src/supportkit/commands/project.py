"""Commands for a company's own project: ``init`` (a project folder), ``data inspect`` (what a data
file holds, before any model loads) and ``test`` (conversation tests, for CI)."""

from __future__ import annotations

import argparse
from pathlib import Path

from supportkit.cli import add_config_arguments, checked_config, command, load_config


def _configure_init(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", help="the project folder to create")
    p.add_argument("--company", required=True, help="the company's name, e.g. 'Acme Cloud'")
    p.add_argument("--tone", default="friendly and clear", help="the assistant's tone of voice")
    p.add_argument("--force", action="store_true", help="write into a folder that is not empty")


@command(
    "init",
    "create a project folder for your company: config, prompts, knowledge, data, tests",
    _configure_init,
)
def run_init(args: argparse.Namespace) -> int:
    from supportkit.recipes.init_project import init_project

    result = init_project(args.directory, args.company, tone=args.tone, force=args.force)
    print(f"created {result.root} for {args.company}:")
    for path in result.files:
        print(f"  {path.relative_to(result.root)}")
    print("\nnext steps:")
    for number, step in enumerate(result.next_steps, start=1):
        print(f"  {number}. {step}")
    return 0


def _configure_data(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    inspect = sub.add_parser(
        "inspect", help="format, columns, rows, bad rows, intents, lengths, duplicates, PII"
    )
    inspect.add_argument("file", help="a .csv, .tsv, .jsonl or .json data file")
    add_config_arguments(inspect)
    inspect.add_argument(
        "--near-duplicates", action="store_true", help="also group paraphrased questions (MiniLM embeddings)"
    )


@command("data", "inspect a data file before training: data inspect FILE [CONFIG]", _configure_data)
def run_data(args: argparse.Namespace) -> int:
    from supportkit.recipes.inspect_data import format_inspection, inspect_data

    result = inspect_data(args.file, load_config(args), near_duplicates=args.near_duplicates)
    print(format_inspection(result))
    return 2 if result.problem else 0


def _configure_test(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a YAML file of conversations with expectations per turn")
    add_config_arguments(p)
    p.add_argument("--adapter", default=None, help="a saved adapter directory to answer with")
    p.add_argument("--junit", default=None, metavar="PATH", help="also write JUnit XML (for CI)")


@command("test", "run conversation tests: a pass/fail table; exit 1 when one fails", _configure_test)
def run_test(args: argparse.Namespace) -> int:
    import supportkit.prompts  # noqa: F401  (registers the strategies)
    from supportkit.prompts.base import strategy_names
    from supportkit.recipes.assistant import build_pipeline
    from supportkit.recipes.conversation_runner import format_results, run_conversation_tests, write_junit
    from supportkit.recipes.conversation_tests import load_conversation_tests

    tests = load_conversation_tests(args.file, strategies=strategy_names())  # before the model loads
    config = checked_config(args, adapters={"--adapter": args.adapter})
    pipeline = build_pipeline(config, args.adapter)
    results = run_conversation_tests(pipeline, tests, source=str(args.file))
    print(format_results(results))
    if args.junit:
        print(f"JUnit XML: {write_junit(results, args.junit, suite=Path(args.file).stem)}")
    return 0 if all(r.passed for r in results) else 1
