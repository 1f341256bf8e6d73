"""The harness every benchmark uses: machine info, warm-up, interleaved A/B repeats, results.

Machines here are shared and noisy, so absolute times mean little: each figure is measured as
interleaved pairs (A B A B ...) and reported as the median of the per-pair ratios with min-max.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("torch", "transformers", "peft", "adapters", "accelerate"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    gpu = None
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "gpu": gpu,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "versions": versions,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def summarize(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(
    a: Callable[[], Any],
    b: Callable[[], Any],
    *,
    repeats: int,
    warmup: int = 1,
    measure: Callable[[Callable[[], Any]], float] = timed,
) -> dict[str, Any]:
    """Run ``warmup`` unmeasured rounds, then ``repeats`` pairs A B A B ...

    ``measure`` turns a callable into a number (seconds by default; pass another to measure e.g.
    tokens per second). Returns summaries of A, B and the per-pair ratio A / B.
    """
    for _ in range(warmup):
        a()
        b()
    a_values, b_values, ratios = [], [], []
    for _ in range(repeats):
        va = measure(a)
        vb = measure(b)
        a_values.append(va)
        b_values.append(vb)
        ratios.append(va / vb if vb else float("inf"))
    return {"a": summarize(a_values), "b": summarize(b_values), "ratio": summarize(ratios)}


def round_robin(
    variants: dict[str, Callable[[], Any]],
    *,
    baseline: str,
    repeats: int,
    warmup: int = 1,
    measure: Callable[[Callable[[], Any]], float] = timed,
) -> dict[str, Any]:
    """Like :func:`interleaved` for several variants: each round runs every variant once, in order.

    Returns per-variant summaries and, for each variant, the summary of its per-round ratio to
    ``baseline`` (so a slow round on a noisy machine affects both sides of the ratio).
    """
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    values: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            values[name].append(measure(fn))
    base = values[baseline]
    return {
        name: {
            "value": summarize(vals),
            "ratio": summarize([v / b if b else float("inf") for v, b in zip(vals, base, strict=True)]),
        }
        for name, vals in values.items()
    }


def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny inputs, one repeat")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved pairs to measure")
    return parser.parse_args(argv)


def run_main(
    name: str, description: str, run: Callable[..., dict[str, Any]], argv: list[str] | None = None
) -> None:
    """A benchmark's command line: ``run(quick=, repeats=)``, print its rows, store the result."""
    args = parse_args(description, argv)
    result = run(quick=args.quick, repeats=args.repeats)
    for row in result["rows"]:
        print(row)
    print(write_result(name, result, quick=args.quick))


def write_result(name: str, result: dict[str, Any], *, quick: bool) -> Path:
    """Store a result as JSON (quick runs go to a separate, git-ignored file)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / (f"{name}.quick.json" if quick else f"{name}.json")
    result = {"name": name, "quick": quick, **result}
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def fmt_seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def fmt_ratio(summary: dict[str, float]) -> str:
    return f"{summary['median']:.2f}x (min {summary['min']:.2f}, max {summary['max']:.2f}, n={summary['n']})"
