"""The method grid on the project's dataset at one small fixed budget (``configs/compare_methods.yaml``):
none, LoRA, DoRA, IA3, LoHa, LoKr, prefix tuning, prompt tuning, Pfeiffer, Houlsby, full fine-tuning.

Each trained method: trainable share, adapter size, peak memory, training time and tokens/s, then
zero-shot answers to the same stratified held-out questions: latency (per request, to first token
and to the end), ROUGE-L, similarity, detail recall and intent accuracy with intervals, and paired
differences against LoRA. The grid is long on CPU: ``supportkit compare`` resumes, so a partial run
is recorded with the methods still to run and the command that finishes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.comparison import difference_rows, main, systems_for
from benchmarks.harness import machine_info

NAME = "compare_methods"
COMMAND = "python -m benchmarks.bench_compare_methods"
CLI = "supportkit compare configs/compare_methods.yaml"
GRID = (
    "none",
    "lora",
    "dora",
    "ia3",
    "loha",
    "lokr",
    "prefix_tuning",
    "prompt_tuning",
    "pfeiffer",
    "houlsby",
    "full",
)
METRICS = ("rougeL", "similarity", "detail_recall", "intent_accuracy")


def _recommendation(trained: list[Any], lora: Any) -> str:
    from supportkit.evaluation.stats import paired_difference

    best = max(trained, key=lambda s: s.metrics["rougeL"].mean)
    i = best.info
    line = (
        f"At this budget the highest ROUGE-L is {best.name} ({best.metrics['rougeL'].format()}, "
        f"intent accuracy {best.metrics['intent_accuracy'].format()}) with {i.get('trainable_pct')} % of "
        f"the weights trained and a {i.get('adapter_mb')} MB adapter"
    )
    if best is not lora:
        d = paired_difference(best.values("rougeL"), lora.values("rougeL"))
        verdict = "significant" if d.excludes_zero() else "not significant"
        line += f"; against LoRA {d.format()} ROUGE-L ({verdict})"
    return line + "."


def run(
    quick: bool = False, report: Path | None = None, extra_reports: Sequence[Path] = ()
) -> dict[str, Any]:
    from supportkit.evaluation.report import compare, summary_rows
    from supportkit.evaluation.sampling import intents_covered

    systems = systems_for("compare_methods.yaml", [], quick, report, extra_reports)
    methods = [s for s in systems if s.info.get("method") not in (None, "-")]
    lora = next((s for s in methods if s.info.get("method") == "lora"), None)
    none = next((s for s in methods if s.info.get("method") == "none"), None)
    pairs = [(s.name, lora.name) for s in methods if lora is not None and s not in (lora, none)]
    if lora is not None and none is not None:
        pairs.insert(0, (lora.name, none.name))
    diffs = compare(systems, pairs, METRICS)
    done = {s.info.get("method") for s in methods}
    left = [m for m in GRID if m not in done]
    covered = intents_covered(systems[0].rows, key=lambda r: r.get("intent"))
    notes = [
        f"Budget: {CLI}: every method 24 steps of 8 conversations (about one epoch of the 185 training "
        "conversations; per-method learning rates of recipes/compare.py METHOD_OVERRIDES), max_length "
        f"chosen from the data, then {len(systems[0].rows)} held-out questions (seeded, stratified: "
        f"{len(covered)} intents covered) answered zero-shot, greedy, 48 new tokens. A budget that fits "
        "a shared 2-core CPU, not each method's best: it ranks methods at this budget only.",
        "Latency: ttft_s / latency_s are per request, from the start of its batch of 8 (16 questions are "
        "submitted at once, so the second batch's rows wait for the first); answers/s is the throughput. "
        "The machine was shared with other runs (niced below them; test runs, benchmarks): latency and "
        "training seconds are wall time and differ with the load at the time of each system, not only by "
        "method (training speed per method measured alone: 'Training memory and speed per method').",
    ]
    peaks = [s.info.get("peak_memory_mb") for s in methods if s.info.get("peak_memory_mb") not in (None, "-")]
    if len(peaks) != len(set(peaks)):  # reports written before each run's peak was reset
        notes.append(
            "Peak memory: this report was recorded before each training run reset the process's peak "
            "(pipelines.training_summary.reset_peak_memory), so a method after a larger one shows that "
            "one's peak (an upper bound); only values that rise above every earlier one are the method's "
            "own. Per method, measured alone: BENCHMARKS.md, 'Training memory and speed per method'."
        )
    if left:
        notes.append(
            f"Not yet run: {', '.join(left)}. Finish with `{CLI}` (it keeps the systems above and runs "
            "only these), then `python -m benchmarks.bench_compare_methods --report reports/compare-methods`."
        )
    trained = [s for s in methods if s.info.get("method") != "none"]
    if trained and lora is not None:
        notes.append(_recommendation(trained, lora))
    return {
        "title": "Method grid on the project's dataset at one fixed budget (24 steps)",
        "command": COMMAND
        + (" --quick" if quick else f" (runs `{CLI}`; --report DIR records a finished run)"),
        "machine": machine_info(),
        "model": "SmolLM2-135M-Instruct (bundled), fp32, CPU, greedy",
        "rows": summary_rows(systems, (*METRICS, "ttft_s", "latency_s")),
        "tables": [
            {
                "title": "Paired differences: LoRA vs untuned, every other method vs LoRA (95 % bootstrap)",
                "rows": difference_rows(diffs),
            }
        ],
        "notes": notes,
    }


if __name__ == "__main__":
    main(NAME, run, __doc__ or NAME)
