"""Quality gate for faster decode paths: greedy answers of the ``static`` engine (fp32, bf16) vs the
fp32 reference (transformers' ``generate``) on the project's held-out questions.

The held-out questions are the test and validation splits of ``data/store/conversations.jsonl`` as
training splits it (``load_eval_data``; ``--repeats N``: a seeded sample of N per split, stratified by
intent). Each engine answers the same few-shot
prompts (train-split bank) greedily; answers are scored by ROUGE-L against the references. A path
passes when its paired ROUGE-L difference to the reference (paired bootstrap,
``evaluation/stats.py``) lies within +-0.01 (the interval, not only the mean); greedy token agreement
with the reference (share of positions equal up to the first difference, and share of identical
answers) is reported.

The bf16 result is recorded in the model directory (``supportkit-quality-gate.json``), where
``model.dtype: auto`` reads it. ``--quick``: 8 questions, nothing recorded.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as ``supportkit`` does, before torch

from typing import Any

from benchmarks.harness import machine_info, run_main

NAME = "quality_gate"
COMMAND = "python -m benchmarks.bench_quality_gate"
#: How much worse than the reference a path may be (ROUGE-L, lower end of the paired 95 % interval).
TOLERANCE = 0.01


def _agreement(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Share of positions (of the longer answer) equal before the first difference."""
    same = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        same += 1
    return same / max(len(a), len(b), 1)


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    import datetime as dt
    import time

    from supportkit.config import Config
    from supportkit.data.project import apply_project_defaults
    from supportkit.evaluation.compare import load_eval_data, train_bank
    from supportkit.evaluation.metrics import METRICS
    from supportkit.evaluation.stats import paired_difference
    from supportkit.generation import DecodeItem, HFDecoder, StaticDecoder
    from supportkit.models.loading import load_base
    from supportkit.models.peft import PEFTModel
    from supportkit.models.precision import cpu_has_native_bf16, write_gate
    from supportkit.pipelines.inference import InferencePipeline

    limit = 8 if quick else repeats  # None: the whole test split
    config = apply_project_defaults(
        Config().with_overrides(["peft.method=none", "generation.max_new_tokens=64"])
    )
    data = load_eval_data(config, limit=limit)
    held_out = list(data.test)
    if not quick:  # the validation split is held out from training too: more questions, a tighter interval
        held_out += load_eval_data(config, split="validation", limit=limit).test
    model = PEFTModel(config)
    pipeline = InferencePipeline(model, config, bank=train_bank(data.train))
    prepared = [
        pipeline.prepare({"query": e.question, "strategy": "few_shot", "history": list(e.history)})
        for e in held_out
    ]
    items = [p.item() for p in prepared]
    references = [e.reference for e in held_out]
    engines: dict[str, Any] = {"hf fp32": HFDecoder(model, batch_size=8), "static fp32": StaticDecoder(model)}
    if cpu_has_native_bf16():
        bf16 = load_base(config.model.name_or_path, dtype="bfloat16")
        engines["static bf16"] = StaticDecoder(bf16)
    rouge = METRICS.get("rougeL")
    answers: dict[str, list[Any]] = {}
    seconds: dict[str, float] = {}
    for label, engine in engines.items():
        began = time.perf_counter()
        answers[label] = engine.generate([DecodeItem(i.input_ids, None, i.sampling) for i in items])
        seconds[label] = time.perf_counter() - began
    ref_scores = rouge([g.text for g in answers["hf fp32"]], references)
    rows = []
    verdicts: dict[str, dict[str, Any]] = {}
    for label, outs in answers.items():
        scores = rouge([g.text for g in outs], references)
        diff = paired_difference(scores, ref_scores)
        passed = diff.low >= -TOLERANCE  # not worse than the reference by more than 0.01
        agree = [_agreement(g.token_ids, r.token_ids) for g, r in zip(outs, answers["hf fp32"], strict=True)]
        same = sum(g.token_ids == r.token_ids for g, r in zip(outs, answers["hf fp32"], strict=True))
        verdicts[label] = {
            "passed": passed,
            "rouge_l": round(sum(scores) / len(scores), 4),
            "rouge_l_delta": diff.to_dict(),
            "token_agreement": round(sum(agree) / len(agree), 4),
            "identical_answers": f"{same}/{len(outs)}",
            "questions": len(outs),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
        }
        rows.append(
            {
                "engine": label,
                "ROUGE-L": f"{sum(scores) / len(scores):.4f}",
                "vs hf fp32 (paired 95% CI)": diff.format(4),
                "gate (CI low >= -0.01)": "reference"
                if label == "hf fp32"
                else ("pass" if passed else "FAIL"),
                "token agreement": f"{sum(agree) / len(agree):.1%}",
                "identical answers": f"{same}/{len(outs)}",
                "decode time": f"{seconds[label]:.1f} s",
            }
        )
    recorded = None
    if not quick and "static bf16" in verdicts:
        recorded = str(write_gate(model.base.model_dir, "bfloat16", verdicts["static bf16"]))
    return {
        "title": "Quality gate: static engine fp32/bf16 vs hf generate fp32 on held-out questions",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "model": "SmolLM2-135M-Instruct (bundled), CPU, greedy, few-shot prompts, 64 new tokens",
        "config": f"{len(items)} held-out questions (test + validation splits of the project conversations)",
        "rows": rows,
        "recorded": recorded,
        "notes": [
            "Gate: a path passes when the lower end of the paired 95 % bootstrap interval of its ROUGE-L "
            "difference to hf fp32 is at least -0.01 (not worse by more than 0.01). "
            + (
                f"The bf16 verdict ({'pass' if verdicts['static bf16']['passed'] else 'FAIL'}) is recorded "
                "in "
                "the model directory; model.dtype auto picks bf16 only where it passed and the CPU has "
                "native bf16."
                if "static bf16" in verdicts
                else "This CPU has no native bf16: bf16 was not measured and auto stays float32."
            )
        ],
    }


def main(argv: list[str] | None = None) -> None:
    run_main(NAME, __doc__ or NAME, run, argv)


if __name__ == "__main__":
    main()
