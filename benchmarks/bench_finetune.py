"""Does fine-tuning help? LoRA and a Pfeiffer adapter trained on the project's dataset on CPU,
compared with the untuned model on the held-out test split.

Each method trains from ``configs/train_<method>.yaml`` (80 steps of 8 conversations, about two
epochs) with ``supportkit``'s TrainingPipeline, then answers every test conversation greedily (zero-shot
prompt, batched). Reported: ROUGE-L, similarity, answer length, training time and tokens/s.
Target: tuned ROUGE-L >= untuned + 0.1 with answer lengths in the data's range.
``--quick`` trains the tiny random model for 2 steps on 16 conversations (a smoke run).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import machine_info, parse_args, write_result

NAME = "finetune"
COMMAND = "python -m benchmarks.bench_finetune"
ROOT = Path(__file__).resolve().parents[1]


def evaluate(model: Any, config: Any, conversations: list[Any]) -> dict[str, float]:
    from supportkit.evaluation.metrics import score
    from supportkit.pipelines.inference import InferencePipeline
    from supportkit.pipelines.response import Request
    from supportkit.retrieval.bank import ExampleBank
    from supportkit.retrieval.embedder import HashingEmbedder

    pipeline = InferencePipeline(model, config, bank=ExampleBank(embedder=HashingEmbedder()))
    requests = [
        Request(c.question, "zero_shot", history=[dict(m) for m in c.messages[:-2] if m["role"] != "system"])
        for c in conversations
    ]
    started = time.perf_counter()
    responses = pipeline.generate_batch(requests)
    elapsed = time.perf_counter() - started
    predictions = [r.text for r in responses]
    references = [c.answer for c in conversations]
    scores = score(predictions, references, ["rougeL", "similarity"])
    return {
        "rougeL": statistics.mean(scores["rougeL"]),
        "similarity": statistics.mean(scores["similarity"]),
        "words": statistics.mean(len(p.split()) for p in predictions),
        "reference_words": statistics.mean(len(r.split()) for r in references),
        "generation_s": elapsed,
    }


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    from supportkit.config import Config
    from supportkit.data.loader import DataLoader
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.training import TrainingPipeline

    work = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    extra = [f"training.output_dir={work}/{{method}}", "generation.max_new_tokens=96"]
    if quick:
        from benchmarks.datasets import tiny_model_dir

        extra += [
            f"model.name_or_path={tiny_model_dir(work)}",
            "training.max_steps=2",
            "training.warmup_steps=0",
            "training.eval_steps=null",
            "generation.max_new_tokens=4",
            "data.dedup_threshold=null",
        ]
    rows, results = [], {}
    test = None
    for method in ("none", "lora", "bottleneck"):
        source = "lora" if method == "none" else method
        config = Config.from_yaml(ROOT / "configs" / f"train_{source}.yaml").with_overrides(
            [o.format(method=method) for o in extra]
            + [f"data.train_file={ROOT / 'data/store/conversations.jsonl'}"]
        )
        if method == "none":
            config.peft.method = "none"
        model = PEFTModel(config)
        loader = DataLoader(config, model.tokenizer)
        data = loader.prepare()
        test = data.splits.test[:8] if quick else data.splits.test
        train_s, tps = 0.0, 0.0
        if method != "none":
            if quick:
                data.train = data.train[:16]
            train_dl, val_dl = loader.dataloaders_for(data)
            summary = TrainingPipeline(model, config).train(train_dl, val_dl)
            train_s, tps = summary.train_time_s, summary.tokens_per_s
        result = evaluate(model, config, test)
        results[method] = result
        rows.append(
            {
                "model": "untuned (zero-shot)"
                if method == "none"
                else f"{method}, {config.training.max_steps} steps",
                "ROUGE-L": f"{result['rougeL']:.3f}",
                "similarity": f"{result['similarity']:.3f}",
                "answer words (reference)": f"{result['words']:.1f} ({result['reference_words']:.1f})",
                "training": f"{train_s:.0f} s, {tps:.0f} target tok/s" if method != "none" else "-",
            }
        )
    gain = {m: results[m]["rougeL"] - results["none"]["rougeL"] for m in ("lora", "bottleneck")}
    return {
        "title": "Fine-tuning on the project's dataset: held-out quality vs the untuned model",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "model": "tiny random Llama" if quick else "SmolLM2-135M-Instruct (bundled), fp32, CPU",
        "config": (
            "configs/train_lora.yaml, configs/train_bottleneck.yaml (batch 8, lr 1e-3, 80 steps = 2 epochs)"
        ),
        "rows": rows,
        "notes": [
            f"Test split: {len(test or [])} held-out conversations, the whole split (deduplicated against "
            f"training), covering {len({c.intent for c in test or []})} intents. "
            f"ROUGE-L gain over untuned: LoRA {gain['lora']:+.3f}, bottleneck {gain['bottleneck']:+.3f} "
            "(target +0.10)."
        ],
        "results": results,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or NAME, argv)
    print(write_result(NAME, run(quick=args.quick, repeats=args.repeats), quick=args.quick))


if __name__ == "__main__":
    main()
