"""Automatic prefix caching in the ``static`` engine: prefill of served prompts with the cache off vs on.

The prompts are the server's own: the example store's pipeline prepares each user question of
``data/store/conversations.jsonl`` (system instructions, up to 3 retrieved knowledge articles, the
question), as ``supportkit serve`` does, in a seeded random order (the file is grouped by intent;
traffic is mixed). In interleaved rounds, each variant admits the same N prompts, 8 joining at a
time (``max_new_tokens=1``: the admission step only, which is the time to first token):

* ``cache off``: ``generation.prefix_cache_mb: 0``, one forward per joining row;
* ``cache on, empty at the start``: the default budget, a fresh cache each round, so hits come only
  from what the N prompts share;
* ``cache on, after W other served prompts``: the same, after W other prompts went through the
  engine (untimed): a running server's cache;
* ``one padded forward, no cache (before)``: the previous admission, all joining rows
  right-padded into one forward.

It also checks the first token is the same with and without the cache, reports the cost of the
weights fingerprint taken at each admission, and the hit rate a longer stream of prompts reaches
under several budgets (every question once, in a seeded random order; block keys only, no model).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as ``supportkit`` does, before torch

import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

NAME = "prefix_cache"
COMMAND = "python -m benchmarks.bench_prefix_cache"
JOIN = 8


def _questions(limit: int) -> list[str]:
    from supportkit.data.project import CONVERSATIONS

    out = []
    for line in Path(CONVERSATIONS).read_text(encoding="utf-8").splitlines():
        if line.strip():
            first = next(m for m in json.loads(line)["messages"] if m["role"] == "user")
            out.append(first["content"])
    return out[:limit]


class _Block:
    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes


def _budget_rows(
    prompts: list[tuple[int, ...]], block_bytes: int, budgets: list[float]
) -> list[dict[str, Any]]:
    from supportkit.generation.prefix_cache import PrefixCache

    rows = []
    for mb in budgets:
        cache = PrefixCache(int(mb * (1 << 20)))
        for p in prompts:
            cache.lookup(p, None)
            cache.insert(p, None, lambda a, b: _Block(block_bytes))
        s = cache.stats()
        rows.append(
            {
                "prefix_cache_mb": f"{mb:g}",
                "hit rate": f"{s.hit_rate:.1%}",
                "blocks held": s.blocks,
                "evictions": s.evictions,
            }
        )
    return rows


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    import torch

    from benchmarks.harness import fmt_ratio, machine_info, round_robin
    from supportkit.config import Config, GenerationConfig
    from supportkit.data.project import use_example_store
    from supportkit.generation import DecodeItem, Sampling, StaticDecoder
    from supportkit.generation.prefix_cache import BLOCK, module_fingerprint
    from supportkit.generation.slots import SlotModel
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.inference import InferencePipeline

    n, warm = (8, 8) if quick else (24, 48)
    rounds = repeats or (1 if quick else 3)
    overrides = ["generation.engine=static"]
    if quick:
        from benchmarks.datasets import tiny_model_dir

        overrides.append(f"model.name_or_path={tiny_model_dir(Path(tempfile.mkdtemp()))}")
    config = use_example_store(Config().with_overrides(overrides))
    model = PEFTModel(config)  # as `supportkit serve` builds it (peft.method lora, adapter untrained)
    pipeline = InferencePipeline(model, config)
    questions = _questions(2 * n if quick else 1000)
    prompts = [tuple(pipeline.prepare({"query": q}).rendered.input_ids) for q in questions]
    random.Random(0).shuffle(prompts)  # mixed traffic: the file is grouped by intent
    measured, before = prompts[:n], prompts[n : n + warm]
    s = Sampling(max_new_tokens=1, repetition_penalty=1.0)
    budget = GenerationConfig().prefix_cache_mb

    def joins(batch: list[tuple[int, ...]]) -> list[list[DecodeItem]]:
        items = [DecodeItem(p, None, s) for p in batch]
        return [items[i : i + JOIN] for i in range(0, len(items), JOIN)]

    groups, warm_groups = joins(measured), joins(before)
    first_tokens: dict[str, list[tuple[int, ...]]] = {}
    hit_rates: dict[str, float] = {}

    def decode(label: str, mb: float, warm_up: list[list[DecodeItem]] = []) -> float:  # noqa: B006
        """Seconds to admit the measured prompts (after ``warm_up`` prompts, untimed)."""
        engine = StaticDecoder(model, batch_size=JOIN, prefix_cache_mb=mb)
        for group in warm_up:
            engine.generate(group)
        cache = engine.prefix_cache
        start = cache.stats() if cache is not None else None
        began = time.perf_counter()
        out = [g.token_ids for group in groups for g in engine.generate(group)]
        took = time.perf_counter() - began
        first_tokens[label] = out
        if cache is not None and start is not None:
            end = cache.stats()
            hit_rates[label] = (end.hits - start.hits) / (end.queries - start.queries)
        return took

    slots = SlotModel(model.model, JOIN)

    def padded() -> float:
        began = time.perf_counter()
        with torch.inference_mode():
            for group in groups:
                slots.prefill(0, [i.input_ids for i in group], None)
        return time.perf_counter() - began

    variants: dict[str, Callable[[], float]] = {
        "cache off": lambda: decode("cache off", 0),
        "cache on, empty at the start": lambda: decode("cold", budget),
        f"cache on, after {warm} other served prompts": lambda: decode("warm", budget, warm_groups),
        "one padded forward, no cache (before)": padded,
    }
    timing = round_robin(variants, baseline="cache off", repeats=rounds, measure=lambda fn: fn())
    same = {
        k: sum(a == b for a, b in zip(first_tokens[k], first_tokens["cache off"], strict=True))
        for k in ("cold", "warm")
    }
    rows: list[dict[str, Any]] = []
    for (label, t), key in zip(timing.items(), ["", "cold", "warm", ""], strict=True):
        rows.append(
            {
                "variant": label,
                "prefill per prompt": f"{t['value']['median'] / n * 1000:.0f} ms",
                "time vs cache off": fmt_ratio(t["ratio"]),
                "hit rate": f"{hit_rates[key]:.1%}" if key else "",
            }
        )
    block_bytes = slots.read(0, 0, BLOCK).nbytes
    budgets = _budget_rows(prompts, block_bytes, [32, 128, 256, 512, 1024])
    began = time.perf_counter()
    for _ in range(20):
        module_fingerprint(model.model)
    fingerprint_ms = (time.perf_counter() - began) / 20 * 1000
    lengths = [len(p) for p in measured]
    return {
        "title": "Prefix caching: static-engine prefill of served prompts, cache off vs on",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": {**machine_info(), "torch_threads": torch.get_num_threads()},
        "model": "tiny random Llama"
        if quick
        else "SmolLM2-135M-Instruct (bundled) + untrained LoRA, CPU fp32",
        "config": f"{n} example-store prompts ({min(lengths)}-{max(lengths)} tokens, median "
        f"{statistics.median(lengths):.0f}), {JOIN} joining per step, {rounds} interleaved round(s); "
        f"prefix_cache_mb {budget:g}, block {BLOCK} tokens ({block_bytes / 1024:.0f} KB)",
        "rows": rows,
        "tables": [
            {
                "title": f"Hit rate by prefix_cache_mb: every example-store question once ({len(prompts)}), "
                "in a seeded random order, from an empty cache (block keys only, no model)",
                "rows": budgets,
            }
        ],
        "notes": [
            "Hit rate = cached prompt tokens / prompt tokens looked up (vLLM's prefix_cache_hits / "
            f"prefix_cache_queries), over the {n} measured prompts.",
            f"The first token with the cache equals the one without it for {same['cold']} (empty cache) "
            f"and {same['warm']} (warm) of {n} prompts.",
            f"The weights fingerprint taken at each admission (the stale K/V guard) costs "
            f"{fingerprint_ms:.1f} ms.",
        ],
    }


def main(argv: list[str] | None = None) -> None:
    from benchmarks.harness import run_main

    run_main(NAME, __doc__ or NAME, run, argv)


if __name__ == "__main__":
    main()
