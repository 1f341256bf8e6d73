"""What ``supportkit compare`` costs before its first answer, old code vs new, side by side.

Issue #18: on a 4.5k-row long-answer CSV, ``compare`` printed nothing for over 20 minutes (the same
texts embedded again per step). This runs the untuned rows of the Bitext comparison (``none`` x
zero-shot / random few-shot / similarity few-shot, plus the nearest-neighbour baseline) on such a
file with two source trees, alternating, in fresh processes, and records for each: seconds to the
first output line, to the start of generation (the first system's name), and to the end.

The long-answer file is built from the shared Bitext sample (one 27-word canned answer per intent):
``rows`` rows drawn per intent with a seed; each answer becomes about 110 words (the row's canned
answer, the question quoted, the canned answers of two other intents of its category and
``{{Order Number}}``-style slots), so answers are distinct per row as in a real long-answer set.

    python -m benchmarks.bench_compare_cost --old-src /tmp/old/src --new-src src --out /tmp/cost
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.harness import write_result

SLOTS = ("{{Order Number}}", "{{Customer Support Phone Number}}", "{{Website URL}}", "{{Account Category}}")


def build_long_csv(source: Path, out: Path, *, rows: int = 4500, seed: int = 0) -> Path:
    """A long-answer CSV of ``rows`` rows (same columns as ``source``) built from the Bitext sample."""
    with source.open(encoding="utf-8", newline="") as fh:
        data = list(csv.DictReader(fh))
    rng = random.Random(seed)
    canned = {r["intent"]: r["response"] for r in data}
    by_category: dict[str, list[str]] = defaultdict(list)
    for r in data:
        if r["intent"] not in by_category[r["category"]]:
            by_category[r["category"]].append(r["intent"])
    chosen = sorted(rng.sample(range(len(data)), min(rows, len(data))))
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(data[0]))
        writer.writeheader()
        for i in chosen:
            r = dict(data[i])
            others = [x for x in by_category[r["category"]] if x != r["intent"]] or list(canned)
            extra = [canned[x] for x in rng.sample(others, min(2, len(others)))]
            r["response"] = " ".join(
                [
                    canned[r["intent"]],
                    f'You wrote: "{r["instruction"]}".',
                    f"Please keep your order number {SLOTS[0]} at hand.",
                    *extra,
                    f"You can also call {SLOTS[1]} or visit {SLOTS[2]}; your {SLOTS[3]} account page shows "
                    "every step of the request and its current status.",
                ]
            )
            writer.writerow(r)
    return out


CONFIG = """{model}data:
  train_file: {csv}
  train_split: 0.9
  val_split: 0.02
  test_split: 0.08
  max_length: 512
training:
  max_steps: 1
generation:
  max_new_tokens: {tokens}
  batch_size: 8
prompt:
  num_examples: 3
guardrails:
  escalation: false
evaluation:
  methods: [none]
  strategies: [zero_shot, "few_shot:random", "few_shot:similarity"]
  max_examples: {questions}
  baselines: [nearest_neighbour]
  output_dir: {report}
"""


def timed_run(src: Path, config: Path, cache: Path, log: Path) -> dict[str, Any]:
    """Run ``supportkit compare config`` on the source tree ``src``; seconds to the first output,
    to the first system's name (generation starts), and to the exit."""
    env = dict(os.environ, PYTHONPATH=str(src.resolve()), SUPPORTKIT_CACHE_DIR=str(cache))
    started = time.perf_counter()
    marks: dict[str, float] = {}
    proc = subprocess.Popen(
        [sys.executable, "-m", "supportkit", "compare", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    out = bytearray()

    def read() -> None:
        assert proc.stdout is not None
        while chunk := os.read(proc.stdout.fileno(), 4096):
            now = time.perf_counter() - started
            out.extend(chunk)
            marks.setdefault("first_output_s", now)
            if b"none + zero_shot" in out:
                marks.setdefault("generation_starts_s", now)

    reader = threading.Thread(target=read)
    reader.start()
    code = proc.wait()
    reader.join()
    log.write_bytes(bytes(out))
    return {"src": str(src), "exit": code, "total_s": round(time.perf_counter() - started, 1)} | {
        k: round(v, 1) for k, v in marks.items()
    }


def _fresh_cache(root: Path, models: Path) -> Path:
    """An empty supportkit cache that shares only the converted model (no embeddings)."""
    root.mkdir(parents=True, exist_ok=True)
    if models.is_dir() and not (root / "models").exists():
        (root / "models").symlink_to(models)
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--old-src", type=Path, required=True, help="src/ of the old code (e.g. git archive be75c95)"
    )
    p.add_argument("--new-src", type=Path, default=Path("src"))
    p.add_argument("--out", type=Path, required=True, help="a folder outside the repository")
    p.add_argument(
        "--bitext",
        type=Path,
        default=Path(os.environ.get("SUPPORTKIT_SHARED_DIR", "../shared"))
        / "data/bitext-customer-support/bitext_customer_support_6480.csv",
    )
    p.add_argument("--rows", type=int, default=4500)
    p.add_argument("--questions", type=int, default=27)
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--rounds", type=int, default=1, help="old/new pairs, alternating")
    p.add_argument("--record", action="store_true", help="write benchmarks/results/compare_cost.json")
    args = p.parse_args(argv)
    args.model = ""  # the bundled model (run(quick=True) sets a tiny one)
    return measure(args)


def measure(args: argparse.Namespace) -> int:
    """Build the file, run each source tree (``args.old_src`` may be ``None``: this tree only)."""
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = build_long_csv(args.bitext, out / "bitext_long.csv", rows=args.rows)
    models = Path(os.environ.get("SUPPORTKIT_CACHE_DIR", Path.home() / ".cache" / "supportkit")) / "models"
    runs = []
    for round_ in range(args.rounds):
        trees = (("old", args.old_src), ("new", args.new_src)) if args.old_src else (("new", args.new_src),)
        for label, src in trees:
            name = f"{label}-{round_}"
            config = out / f"{name}.yaml"
            report = out / f"report-{name}"
            config.write_text(
                CONFIG.format(
                    model=args.model, csv=data, tokens=args.tokens, questions=args.questions, report=report
                ),
                encoding="utf-8",
            )
            cache = _fresh_cache(out / f"cache-{name}", models)
            result = timed_run(src, config, cache, out / f"{name}.log")
            result["label"] = label
            runs.append(result)
            print(json.dumps(result), flush=True)
    summary: dict[str, Any] = {
        "rows": args.rows,
        "questions": args.questions,
        "tokens": args.tokens,
        "runs": runs,
    }
    for key in ("first_output_s", "generation_starts_s", "total_s"):
        old = [r[key] for r in runs if r["label"] == "old" and key in r]
        new = [r[key] for r in runs if r["label"] == "new" and key in r]
        if old and new:
            summary[f"{key} old/new"] = round(sum(old) / sum(new), 2)
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(json.dumps(summary, indent=1))
    args.summary = summary
    if args.record:
        print(write_result(NAME, result_for(summary, args), quick=False))
    return 0


def run(quick: bool = False) -> dict[str, Any]:
    """For ``benchmarks.run_all``. Full: old (be75c95, extracted with ``git archive``) vs this tree at
    the recorded settings. Quick: the file builder and one timed run of this tree on 300 rows with the
    tiny random model (a smoke test of the machinery; no old/new ratio).

    Raises: RuntimeError when a ``compare`` run fails (its log is named)."""
    import tempfile

    from benchmarks.datasets import shared_dir, tiny_model_dir

    root = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp(prefix="bench-compare-cost-"))
    old_src = None
    if not quick:
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", "be75c95", "src"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
        old_src = work / "src"
    args = argparse.Namespace(
        old_src=old_src,
        new_src=root / "src",
        out=work / "out",
        bitext=shared_dir() / "data/bitext-customer-support/bitext_customer_support_6480.csv",
        rows=300 if quick else 4500,
        questions=27,
        tokens=8 if quick else 24,
        rounds=1,
        record=False,
        model=f"model:\n  name_or_path: {tiny_model_dir(work)}\n" if quick else "",
    )
    measure(args)
    failed = [r for r in args.summary["runs"] if r["exit"] != 0]
    if failed:
        raise RuntimeError(f"compare failed: see the logs in {args.out}")
    result = result_for(args.summary, args)
    if quick:
        result["command"] = "python -m benchmarks.run_all --only compare_cost --quick"
    return result


NAME = "compare_cost"


def result_for(summary: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The BENCHMARKS.md section of a measurement."""
    from benchmarks.harness import machine_info

    rows = [
        {
            "code": f"{r['label']} ({'be75c95' if r['label'] == 'old' else 'this branch'})",
            "first output": f"{r.get('first_output_s', '-')} s",
            "generation starts": f"{r.get('generation_starts_s', '-')} s",
            "untuned rows + baseline done": f"{r['total_s']} s",
            "exit": r["exit"],
        }
        for r in summary["runs"]
    ]
    ratios = ", ".join(
        f"{k.replace('_s old/new', '')} {v}x" for k, v in summary.items() if k.endswith("old/new")
    )
    return {
        "title": "Cost of compare before and through the untuned rows: 4.5k-row long-answer CSV, old vs new",
        "command": (
            "python -m benchmarks.bench_compare_cost --old-src OLD/src --new-src src --out /tmp/cost "
            f"--rows {args.rows} --questions {args.questions} --tokens {args.tokens} --record "
            "(OLD: git archive be75c95 src | tar -x -C OLD), under flock /tmp/heavy.lock nice -n 10"
        ),
        "machine": machine_info(),
        "model": "SmolLM2-135M-Instruct (bundled), fp32, CPU, greedy; MiniLM embeddings",
        "config": (
            f"{args.rows} rows built from the Bitext sample (answers ~110 words, distinct per row, "
            "{{slot}} placeholders; see the module docstring), split 0.9/0.02/0.08 with near-duplicate "
            f"check; methods [none] x zero_shot, few_shot:random, few_shot:similarity + nearest-neighbour "
            f"baseline; {args.questions} stratified questions and {args.tokens} new tokens (limited to "
            "fit a shared 2-core machine); each run in a fresh process with an empty embedding cache"
        ),
        "rows": rows,
        "ratio": {"label": "old / new (seconds)", "value": ratios},
        "notes": [],
    }


if __name__ == "__main__":
    raise SystemExit(main())
