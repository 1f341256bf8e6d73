"""Few-shot selection latency: query embedding + exact cosine search (+ MMR) at growing bank sizes.

Real examples: the Bitext customer-support sample (1,000 and all 6,480 rows; it has no more), found
through SUPPORTKIT_SHARED_DIR. Larger banks (10k, 100k) are **synthetic** random unit vectors,
which exercise the search exactly as real vectors of the same size would. Each round times, in turn:
the query embedding alone (the peer), then selection (embedding + search) at each size, so the
per-round ratio shows what the search adds. ``--quick`` uses the project's 30-example bank.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from benchmarks.datasets import PROJECT_BANK, bitext_csv
from benchmarks.harness import machine_info, parse_args, round_robin, write_result

NAME = "selection"
COMMAND = "python -m benchmarks.bench_selection"
QUERIES = [
    "I was charged twice for the same order",
    "my parcel hasn't arrived",
    "how can I delete my account",
    "the app crashes at checkout",
    "I want to speak with a person",
    "change the shipping address please",
]


def _bank_with(vectors: np.ndarray, template: Any) -> Any:
    from supportkit.data.readers import QAExample
    from supportkit.retrieval.bank import ExampleBank

    bank = ExampleBank(embedder=template.embedder)
    examples = [QAExample(f"synthetic {i}", "x") for i in range(len(vectors))]
    bank.extend_with_vectors(examples, vectors)  # synthetic rows: nothing to embed
    return bank


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    from supportkit.data.examples import load_examples
    from supportkit.prompts.selection import SimilaritySelector
    from supportkit.retrieval.bank import ExampleBank

    banks: dict[str, Any] = {}
    notes = []
    source = bitext_csv()
    if quick or source is None:
        bank = ExampleBank()
        load_examples(bank, PROJECT_BANK)
        banks[f"{len(bank)} real (project bank)"] = bank
        if source is None and not quick:
            notes.append(
                "The Bitext sample was not found (SUPPORTKIT_SHARED_DIR): real rows are the project bank."
            )
    else:
        full = ExampleBank()
        load_examples(full, source)
        small = ExampleBank(embedder=full.embedder)
        snap = full.snapshot()
        small.extend_with_vectors(snap.examples[:1000], snap.vectors[:1000])
        banks["1,000 real (Bitext)"] = small
        banks[f"{len(full):,} real (Bitext, all)"] = full
    template = next(iter(banks.values()))
    rng = np.random.default_rng(0)
    for size in [2_000] if quick else [10_000, 100_000]:
        v = rng.standard_normal((size, template.embedder.dim)).astype(np.float32)
        banks[f"{size:,} synthetic"] = _bank_with(v / np.linalg.norm(v, axis=1, keepdims=True), template)
    plain, diverse = SimilaritySelector(), SimilaritySelector(mmr_lambda=0.5)
    counter = iter(range(10**9))

    def query() -> str:
        return QUERIES[next(counter) % len(QUERIES)]

    variants: dict[str, Any] = {"query embedding only": lambda: template.embed_query(query())}
    for label, bank in banks.items():
        variants[f"select k=3, {label}"] = lambda b=bank: plain.select(b, query(), 3)
    last = list(banks.values())[-1]
    variants[f"select k=3 + MMR, {list(banks)[-1]}"] = lambda: diverse.select(last, query(), 3)

    def per_call(fn: Any) -> float:
        n = 3 if quick else 20
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n

    stats = round_robin(
        variants, baseline="query embedding only", repeats=repeats or (1 if quick else 7), measure=per_call
    )
    rows = [
        {
            "what": name,
            "median ms / query": f"{1000 * s['value']['median']:.2f}",
            "min-max ms": f"{1000 * s['value']['min']:.2f}-{1000 * s['value']['max']:.2f}",
            "vs embedding alone": f"{s['ratio']['median']:.2f}x",
        }
        for name, s in stats.items()
    ]
    ten_k = [s for n, s in stats.items() if n.startswith("select k=3, 10,000")]
    if ten_k:
        notes.append(
            f"Target: <= 25 ms median at 10k examples; measured {1000 * ten_k[0]['value']['median']:.2f} ms."
        )
    return {
        "title": "Few-shot selection latency (MiniLM query embedding + exact cosine search)",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "rows": rows,
        "notes": notes,
        "median_ms": {n: 1000 * statistics.median([s["value"]["median"]]) for n, s in stats.items()},
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or NAME, argv)
    print(write_result(NAME, run(quick=args.quick, repeats=args.repeats), quick=args.quick))


if __name__ == "__main__":
    main()
