"""Automatic prefix caching in the ``static`` engine: prefill of served prompts with the cache off vs on.

The prompts are the server's own: the example store's pipeline prepares each user question of
``data/store/conversations.jsonl`` (system instructions, up to 3 retrieved knowledge articles, the
question), as ``supportkit serve`` does. In interleaved rounds, each variant prefills the same N
prompts, 8 joining at a time (``max_new_tokens=1``: the admission step only, which is the time to
first token):

* ``cache off``: ``generation.prefix_cache_mb: 0``, one forward per joining row;
* ``cache on``: the default budget, a fresh (empty) cache each round, so hits come only from what
  the round's prompts share (a running server's warm cache does at least as well);
* ``one padded forward (before)``: the previous admission, all joining rows right-padded into one
  forward (no cache).

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
                "variant": f"budget {mb:g} MB: {len(prompts)} prompts, mixed order (keys only)",
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

    n = 8 if quick else 32
    rounds = repeats or (1 if quick else 3)
    overrides = ["generation.engine=static"]
    if quick:
        from benchmarks.datasets import tiny_model_dir

        overrides.append(f"model.name_or_path={tiny_model_dir(Path(tempfile.mkdtemp()))}")
    config = use_example_store(Config().with_overrides(overrides))
    model = PEFTModel(config)  # as `supportkit serve` builds it (peft.method lora, adapter untrained)
    pipeline = InferencePipeline(model, config)
    questions = _questions(n if quick else 1000)
    prompts = [tuple(pipeline.prepare({"query": q}).rendered.input_ids) for q in questions]
    measured = prompts[:: max(1, len(prompts) // n)][:n]  # spread over the intents
    s = Sampling(max_new_tokens=1, repetition_penalty=1.0)
    items = [DecodeItem(p, None, s) for p in measured]
    budget = GenerationConfig().prefix_cache_mb
    groups = [items[i : i + JOIN] for i in range(0, len(items), JOIN)]
    engines: dict[str, StaticDecoder] = {}
    first_tokens: dict[str, list[tuple[int, ...]]] = {}

    def decode(label: str, mb: float) -> None:
        engine = engines[label] = StaticDecoder(model, batch_size=JOIN, prefix_cache_mb=mb)
        out = []
        for group in groups:
            out += [g.token_ids for g in engine.generate(group)]
        first_tokens[label] = out

    slots = SlotModel(model.model, JOIN)

    def padded() -> None:
        with torch.inference_mode():
            for group in groups:
                slots.prefill(0, [i.input_ids for i in group], None)

    variants = {
        "cache off": lambda: decode("cache off", 0),
        "cache on": lambda: decode("cache on", budget),
        "one padded forward (before)": padded,
    }
    timing = round_robin(variants, baseline="cache off", repeats=rounds)
    on = engines["cache on"].prefix_cache
    assert on is not None
    stats = on.stats()
    same = sum(a == b for a, b in zip(first_tokens["cache on"], first_tokens["cache off"], strict=True))
    rows: list[dict[str, Any]] = []
    for label, t in timing.items():
        rows.append(
            {
                "variant": label,
                "prefill per prompt": f"{t['value']['median'] / n * 1000:.0f} ms",
                "time vs cache off": fmt_ratio(t["ratio"]),
                "hit rate": f"{stats.hit_rate:.1%}" if label == "cache on" else "",
            }
        )
    block_bytes = on.stats().bytes // max(1, stats.blocks)
    random.Random(0).shuffle(prompts)  # mixed traffic: the file is grouped by intent
    rows += _budget_rows(prompts, block_bytes, [32, 128, 256, 512, 1024])
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
        "notes": [
            f"Hit rate = cached prompt tokens / prompt tokens looked up (vLLM's prefix_cache_hits / "
            f"prefix_cache_queries), over one round's {n} prompts from an empty cache.",
            f"The first token with the cache equals the one without it for {same} of {n} prompts.",
            f"The weights fingerprint taken at each admission (the stale K/V guard) costs "
            f"{fingerprint_ms:.1f} ms.",
        ],
    }


def main(argv: list[str] | None = None) -> None:
    from benchmarks.harness import run_main

    run_main(NAME, __doc__ or NAME, run, argv)


if __name__ == "__main__":
    main()
