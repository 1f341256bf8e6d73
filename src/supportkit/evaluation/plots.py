"""PNG plots for reports (matplotlib, imported lazily, no display needed)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from supportkit.evaluation.evaluator import SystemResult


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("plots need matplotlib: pip install 'supportkit[report]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def metric_bars(systems: Sequence[SystemResult], metrics: Sequence[str], path: Path) -> Path:
    """One panel per metric: each system's mean with its 95 % interval."""
    plt = _pyplot()
    metrics = [m for m in metrics if any(m in s.metrics for s in systems)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 0.45 * len(systems) + 2.2))
    axes = [axes] if len(metrics) == 1 else list(axes)
    names = [s.name for s in systems]
    for ax, metric in zip(axes, metrics, strict=True):
        means: list[float] = []
        errors: list[list[float]] = [[], []]
        for s in systems:
            iv = s.metrics.get(metric)
            mean = iv.mean if iv and not math.isnan(iv.mean) else 0.0
            means.append(mean)
            errors[0].append(max(mean - iv.low, 0) if iv and not math.isnan(iv.low) else 0)
            errors[1].append(max(iv.high - mean, 0) if iv and not math.isnan(iv.high) else 0)
        ax.barh(range(len(systems)), means, xerr=errors, color="#4c72b0", capsize=3)
        ax.set_yticks(range(len(systems)), names if ax is axes[0] else [""] * len(systems))
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric} (mean, 95 % interval)")
        ax.set_title(metric)
    fig.suptitle("Metrics per system")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def per_intent(systems: Sequence[SystemResult], metric: str, path: Path) -> Path:
    """Heatmap: mean ``metric`` per intent (rows) and system (columns)."""
    plt = _pyplot()
    intents = sorted({str(r["intent"]) for s in systems for r in s.rows if r.get("intent")})
    grid = []
    for intent in intents:
        row = []
        for s in systems:
            values = [r[metric] for r in s.rows if str(r.get("intent")) == intent and metric in r]
            row.append(sum(values) / len(values) if values else float("nan"))
        grid.append(row)
    fig, ax = plt.subplots(figsize=(1.3 * len(systems) + 3, 0.32 * len(intents) + 3.2))
    image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(systems)), [s.name for s in systems], rotation=30, ha="right")
    ax.set_yticks(range(len(intents)), intents)
    ax.set_xlabel("system")
    ax.set_ylabel("intent")
    ax.set_title(f"{metric} per intent")
    fig.colorbar(image, ax=ax, label=metric)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def read_training_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a training run's ``metrics.jsonl`` (a directory holding it, or the file)."""
    file = Path(path)
    if file.is_dir():
        file = file / "metrics.jsonl"
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_curves(logs: Mapping[str, Sequence[Mapping[str, Any]]], path: Path) -> Path:
    """Training loss per step, and validation metrics per evaluation, for each run."""
    plt = _pyplot()
    fig, (loss_ax, eval_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for name, records in logs.items():
        steps = [r["step"] for r in records if "loss" in r]
        loss_ax.plot(steps, [r["loss"] for r in records if "loss" in r], label=name)
        evals: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for r in records:
            for key, value in r.items():
                if key.startswith("eval_") and isinstance(value, int | float):
                    evals[key].append((r["step"], value))
        for key, points in evals.items():
            eval_ax.plot(*zip(*points, strict=True), marker="o", label=f"{name}: {key[5:]}")
    loss_ax.set_xlabel("optimizer step")
    loss_ax.set_ylabel("training loss")
    loss_ax.set_title("Training loss")
    eval_ax.set_xlabel("optimizer step")
    eval_ax.set_ylabel("validation metric")
    eval_ax.set_title("Evaluation during training")
    for ax in (loss_ax, eval_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
