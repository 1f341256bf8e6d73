"""The technique comparison on the project's own dataset (detail-dependent answers, >= 200 held out).

Targets: LoRA beats the untuned zero-shot base and the nearest-neighbour baseline on ROUGE-L and
similarity; combined (LoRA + similarity few-shot + knowledge) is at least as good as LoRA alone;
each difference by paired bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.comparison import by_name, comparison_result, main, systems_for, verdict

NAME = "compare_project"
COMMAND = "python -m benchmarks.bench_compare_project"
CLI = "supportkit compare configs/compare_project.yaml"


def checks(systems: list[Any]) -> list[str]:
    from supportkit.evaluation.stats import paired_difference

    lora, base = by_name(systems, "lora + zero_shot"), by_name(systems, "none + zero_shot")
    combined, nn = by_name(systems, "lora + combined"), by_name(systems, "nearest-neighbour baseline")
    if None in (lora, base, combined, nn):
        return ["(quick run: targets not checked)"]
    notes = []
    for other in (base, nn):
        for metric in ("rougeL", "similarity"):
            d = paired_difference(lora.values(metric), other.values(metric))
            notes.append(f"LoRA - {other.name}, {metric}: {d.format()} -> target {verdict(d.low > 0)}.")
    for metric in ("rougeL", "similarity"):
        d = paired_difference(combined.values(metric), lora.values(metric))
        notes.append(f"combined - LoRA, {metric}: {d.format()} -> 'at least as good' {verdict(d.high >= 0)}.")
    return notes


def run(
    quick: bool = False, report: Path | None = None, extra_reports: Sequence[Path] = ()
) -> dict[str, Any]:
    systems = systems_for("compare_project.yaml", [], quick, report, extra_reports)
    return comparison_result(
        systems,
        title="Comparison on the project's dataset: methods x strategies vs the nearest-neighbour baseline",
        command=COMMAND + (" --quick" if quick else f" (runs `{CLI}`; --report DIR records a finished run)"),
        checks=checks,
    )


if __name__ == "__main__":
    main(NAME, run, __doc__ or NAME)
