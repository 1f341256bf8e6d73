"""Adaptation methods: trainable share and adapter file size per method; inference latency at batch 1.

Latency: greedy generation of a fixed number of new tokens on a few support prompts, batch 1,
for the base model, LoRA unmerged, LoRA merged and a Pfeiffer bottleneck adapter, run round-robin
(base, unmerged, merged, bottleneck, base, ...). LoRA's B matrices are filled with small random
values first, as after training, so merging has real work to do; the merged model must produce the
same greedy tokens as the unmerged one. ``--quick`` uses the tiny random model and one round.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.datasets import tiny_model_dir
from benchmarks.harness import machine_info, parse_args, round_robin, write_result

NAME = "adaptation"
COMMAND = "python -m benchmarks.bench_adaptation"
PROMPTS = [
    "My order arrived damaged. What should I do?",
    "How can I change the shipping address of an order I placed yesterday?",
    "I was charged twice for the same purchase, can you help?",
]


def _config(model_dir: str | None, method: str) -> Any:
    from supportkit.config import Config

    overrides = [f"peft.method={method}"]
    if model_dir:
        overrides.append(f"model.name_or_path={model_dir}")
    return Config().with_overrides(overrides)


def method_rows(model_dir: str | None, work: Path) -> list[dict[str, Any]]:
    from supportkit.models.methods import METHODS
    from supportkit.models.peft import PEFTModel

    rows = []
    for method in METHODS.names():
        model = PEFTModel(_config(model_dir, method))
        trainable, total = model.trainable_parameters()
        size = 0
        if method != "none":  # the untouched base: nothing to save
            saved = model.save_model(work / method)
            size = sum(p.stat().st_size for p in saved.glob("*.safetensors"))
            shutil.rmtree(saved)
        rows.append(
            {
                "method": method,
                "trainable params": f"{trainable:,}",
                "share": f"{100 * trainable / total:.2f}%",
                "weights file": f"{size / 1e6:.2f} MB",
                "mergeable": "yes" if model.spec.can_merge else "no",
            }
        )
        del model
    return rows


def latency_rows(model_dir: str | None, repeats: int, new_tokens: int) -> tuple[list[dict[str, Any]], bool]:
    import torch

    from supportkit.models.loading import load_base
    from supportkit.models.peft import PEFTModel
    from supportkit.models.tokenizer import encode_chat

    base = load_base(model_dir or "bundled:smollm2-135m-instruct")
    unmerged = PEFTModel(_config(model_dir, "lora"))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in unmerged.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    merged = PEFTModel(_config(model_dir, "lora"))
    merged.model.load_state_dict(unmerged.model.state_dict())
    merged.merge()
    bottleneck = PEFTModel(_config(model_dir, "bottleneck"))
    tok = base.tokenizer
    inputs = [torch.tensor([encode_chat(tok, [{"role": "user", "content": p}])]) for p in PROMPTS]

    def generate(model: Any) -> list[list[int]]:
        outs = []
        with torch.inference_mode():
            for ids in inputs:
                out = model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=new_tokens,
                    min_new_tokens=new_tokens,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                )
                outs.append(out[0, ids.shape[1] :].tolist())
        return outs

    same_tokens = generate(merged.model) == generate(unmerged.model)
    stats = round_robin(
        {
            "base": lambda: generate(base.model),
            "LoRA unmerged": lambda: generate(unmerged.model),
            "LoRA merged": lambda: generate(merged.model),
            "bottleneck (Pfeiffer)": lambda: generate(bottleneck.model),
        },
        baseline="base",
        repeats=repeats,
    )
    calls = len(PROMPTS) * new_tokens
    rows = []
    for name, s in stats.items():
        r = s["ratio"]
        rows.append(
            {
                "model": name,
                "ms / token (median)": f"{1000 * s['value']['median'] / calls:.1f}",
                "vs base (median of per-round ratios)": f"{r['median']:.3f}x",
                "min-max": f"{r['min']:.3f}-{r['max']:.3f}",
            }
        )
    return rows, same_tokens


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-adapt-"))
    try:
        model_dir = tiny_model_dir(work) if quick else None
        rows = method_rows(model_dir, work)
        latency, same = latency_rows(model_dir, repeats or (1 if quick else 7), 8 if quick else 32)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "title": "Adaptation methods: trainable share, adapter size, inference overhead",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "model": "tiny random Llama" if quick else "SmolLM2-135M-Instruct (bundled), fp32, CPU",
        "config": "defaults: LoRA/DoRA r=8 alpha=16 all-linear; IA3 peft defaults; LoHa/LoKr r=8 on "
        "q,k,v,o; prefix/prompt tuning 20 virtual tokens; Pfeiffer reduction 16",
        "rows": rows,
        "notes": [
            "Latency at batch 1, greedy, fixed length "
            f"({'8' if quick else '32'} new tokens x {len(PROMPTS)} prompts per round):",
            _table(latency),
            f"Merged LoRA gives the same greedy tokens as unmerged: **{same}**.",
        ],
        "latency": latency,
        "merged_tokens_identical": same,
    }


def _table(rows: list[dict[str, Any]]) -> str:
    from benchmarks.report import table

    return table(rows)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or NAME, argv)
    result = run(quick=args.quick, repeats=args.repeats)
    print(write_result(NAME, result, quick=args.quick))


if __name__ == "__main__":
    main()
