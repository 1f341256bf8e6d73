"""The comparison on the shared Bitext sample (one canned answer per intent: mostly routing).

Found through SUPPORTKIT_SHARED_DIR (default ../shared). When it is absent the previous figures are
kept with their date. Targets: similarity few-shot >= 0.80 ROUGE-L and >= 3x random few-shot,
LoRA >= 0.90, tuned intent accuracy >= 95 %; plus a row for intents left out of training.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.comparison import by_name, comparison_result, main, systems_for, verdict
from benchmarks.datasets import bitext_csv
from benchmarks.harness import RESULTS_DIR

NAME = "compare_bitext"
COMMAND = "python -m benchmarks.bench_compare_bitext"
CLI = "supportkit compare configs/compare_bitext.yaml"


def checks(systems: list[Any]) -> list[str]:
    similar, random = (
        by_name(systems, "none + few_shot:similarity"),
        by_name(systems, "none + few_shot:random"),
    )
    loras = [
        x
        for x in systems
        if x.info.get("method") == "lora" and x.info.get("strategy") == "zero_shot"
        if not x.info.get("other_questions")
    ]
    if None in (similar, random):
        return ["(quick run: targets not checked)"]
    s, r = (x.metrics["rougeL"].mean for x in (similar, random))
    notes = [
        f"similarity few-shot ROUGE-L {s:.3f} (target >= 0.80: {verdict(s >= 0.8)}), "
        f"{s / r if r else float('inf'):.1f}x random few-shot {r:.3f} (target >= 3x: {verdict(s >= 3 * r)})."
    ]
    if not loras:
        notes.append(
            "No LoRA row in this run: the LoRA targets (ROUGE-L >= 0.90, intent accuracy >= 95 %) unchecked."
        )
    for lora in loras:
        t, accuracy = lora.metrics["rougeL"].mean, lora.metrics["intent_accuracy"].mean
        notes.append(
            f"{lora.name}: ROUGE-L {t:.3f} (target >= 0.90: {verdict(t >= 0.9)}); tuned intent accuracy "
            f"{100 * accuracy:.1f} % (target >= 95 %: {verdict(accuracy >= 0.95)})."
        )
    return notes


def run(
    quick: bool = False, report: Path | None = None, extra_reports: Sequence[Path] = ()
) -> dict[str, Any]:
    csv = bitext_csv()
    previous = RESULTS_DIR / f"{NAME}.json"
    if csv is None and not quick and report is None:
        if previous.is_file():
            kept = json.loads(previous.read_text(encoding="utf-8"))
            kept["notes"] = [
                *kept.get("notes", []),
                "Bitext sample not found now: figures kept from the date above.",
            ]
            return {k: v for k, v in kept.items() if k not in ("name", "quick")}
        raise FileNotFoundError("the Bitext sample is not found: set SUPPORTKIT_SHARED_DIR")
    overrides = [f"data.train_file={csv}"] if csv is not None else []
    systems = systems_for("compare_bitext.yaml", overrides, quick, report, extra_reports)
    return comparison_result(
        systems,
        title="Comparison on the Bitext sample: prompting vs LoRA vs the nearest-neighbour baseline",
        command=COMMAND + (" --quick" if quick else f" (runs `{CLI}`; --report DIR records a finished run)"),
        checks=checks,
    )


if __name__ == "__main__":
    main(NAME, run, __doc__ or NAME)
