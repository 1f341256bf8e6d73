"""Run every ``bench_*.py`` benchmark, then rewrite BENCHMARKS.md.

python -m benchmarks.run_all            # full runs (minutes)
python -m benchmarks.run_all --quick    # smoke runs (results kept apart; BENCHMARKS.md untouched)
python -m benchmarks.run_all --only cold_start
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType

from benchmarks.harness import write_result
from benchmarks.report import write_report

HERE = Path(__file__).resolve().parent


def discover() -> list[ModuleType]:
    return [importlib.import_module(f"benchmarks.{p.stem}") for p in sorted(HERE.glob("bench_*.py"))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", default=[], help="benchmark NAME (repeatable)")
    args = parser.parse_args(argv)
    for module in discover():
        if args.only and module.NAME not in args.only:
            continue
        print(f"== {module.NAME}", flush=True)
        result = module.run(quick=args.quick)
        print(f"   -> {write_result(module.NAME, result, quick=args.quick)}", flush=True)
    if not args.quick:
        print(f"wrote {write_report()}")


if __name__ == "__main__":
    main()
