"""Decoding: pipeline overhead at batch 1, and aggregate throughput as the batch grows.

1. Pipeline vs bare ``model.generate`` on the same prompt ids (zero-shot prompt, greedy, fixed
   length via min_new_tokens = max_new_tokens), interleaved A B A B: the ratio is what prompt
   building, budgeting and post-processing cost on top of generation (target <= 1.05).
2. Batch scaling: ``generate_ids`` on 1, 2, 4, 8 and 16 support questions at once, fixed length,
   round-robin; aggregate generated tokens per second relative to batch 1 (target: batch 8 >= 3x).

Model: the bundled SmolLM2-135M-Instruct, fp32, CPU (``--quick``: the tiny random model).

``--engines``: the decode engines side by side instead (``hf`` generate, the ``static`` step engine
in fp32 and bf16, llama.cpp as the peer): :mod:`benchmarks.bench_decode_engines`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as ``supportkit`` does, before torch

from typing import Any

from benchmarks.harness import interleaved, machine_info, parse_args, round_robin, timed, write_result

NAME = "decode"
COMMAND = "python -m benchmarks.bench_decode"
QUESTIONS = [
    "Where is my order?",
    "How do I return a pair of shoes?",
    "I was charged twice for one purchase.",
    "My package arrived damaged.",
    "How can I change my delivery address?",
    "Can I cancel my order?",
    "The app crashes when I open my cart.",
    "How long does shipping take?",
]


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    import torch

    from supportkit.config import Config
    from supportkit.generation import generate_ids, generation_kwargs
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.inference import InferencePipeline
    from supportkit.retrieval.bank import ExampleBank
    from supportkit.retrieval.embedder import HashingEmbedder

    new_tokens = 8 if quick else 32
    overrides = [
        "peft.method=none",
        f"generation.max_new_tokens={new_tokens}",
        f"generation.min_new_tokens={new_tokens}",
    ]
    if quick:
        from benchmarks.datasets import tiny_model_dir

        overrides.append(f"model.name_or_path={tiny_model_dir(Path(tempfile.mkdtemp()))}")
    config = Config().with_overrides(overrides)
    model = PEFTModel(config)
    pipeline = InferencePipeline(model, config, bank=ExampleBank(embedder=HashingEmbedder()))
    tok = model.tokenizer
    query = QUESTIONS[0]
    ids = torch.tensor([pipeline.prompt_for(query).input_ids])
    kwargs = generation_kwargs(config.generation, tok, prompt_width=ids.shape[1])

    def bare() -> list[int]:
        with torch.inference_mode():
            out = model.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        return out[0, ids.shape[1] :].tolist()

    def through_pipeline() -> str:
        return pipeline.generate_response(query)

    assert pipeline.respond(query).generated_tokens == len(bare()) == new_tokens
    overhead = interleaved(through_pipeline, bare, repeats=repeats or (1 if quick else 9))

    sizes = [1, 2, 4] if quick else [1, 2, 4, 8, 16]
    prompts = [pipeline.prompt_for(q).input_ids for q in QUESTIONS * 2]
    variants = {
        f"batch {n}": (lambda n=n: generate_ids(model.model, tok, prompts[:n], config.generation))
        for n in sizes
    }
    # tokens/s is the figure of merit: time per round divided into n * new_tokens.
    stats = round_robin(variants, baseline="batch 1", repeats=repeats or (1 if quick else 5), measure=timed)
    batch_rows = []
    for n in sizes:
        s = stats[f"batch {n}"]
        tps = n * new_tokens / s["value"]["median"]
        # throughput ratio vs batch 1 per round = n * t1 / tn = n / (tn / t1)
        speedup = n / s["ratio"]["median"]
        batch_rows.append(
            {
                "batch": n,
                "time per call (median)": f"{s['value']['median']:.2f} s",
                "aggregate tokens/s": f"{tps:.1f}",
                "vs batch 1 (tokens/s)": f"{speedup:.2f}x",
                "range": f"{n / s['ratio']['max']:.2f}-{n / s['ratio']['min']:.2f}x",
            }
        )
    r = overhead["ratio"]
    rows = [
        {
            "what": f"pipeline.generate_response vs bare model.generate ({new_tokens} tokens, batch 1)",
            "pipeline": f"{overhead['a']['median']:.3f} s",
            "bare": f"{overhead['b']['median']:.3f} s",
            "ratio (median of pairs)": (
                f"{r['median']:.3f}x (min {r['min']:.3f}, max {r['max']:.3f}, n={r['n']})"
            ),
        }
    ]
    from benchmarks.report import table

    return {
        "title": "Decoding: pipeline overhead and batch scaling",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "model": "tiny random Llama" if quick else "SmolLM2-135M-Instruct (bundled), fp32, CPU, greedy",
        "rows": rows,
        "notes": [
            f"Batch scaling ({new_tokens} new tokens per row, left-padded support questions):",
            table(batch_rows),
        ],
        "batch": batch_rows,
    }


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--engines" in argv:
        from benchmarks import bench_decode_engines

        bench_decode_engines.main([a for a in argv if a != "--engines"])
        return
    args = parse_args(__doc__ or NAME, argv)
    print(write_result(NAME, run(quick=args.quick, repeats=args.repeats), quick=args.quick))


if __name__ == "__main__":
    main()
