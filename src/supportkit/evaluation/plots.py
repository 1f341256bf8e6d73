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


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path


def metric_bars(systems: Sequence[SystemResult], metrics: Sequence[str], path: Path) -> Path:
    """One panel per metric: each system's mean with its 95 % interval (see :func:`metric_bars_figure`)."""
    return _save(metric_bars_figure(systems, metrics), path)


def metric_bars_figure(systems: Sequence[SystemResult], metrics: Sequence[str]) -> Any:
    """The matplotlib figure of :func:`metric_bars`. Every bar carries its value as text, so a
    bar at 0 is still seen; a system without the metric (e.g. a baseline's intent accuracy) shows
    ``n/a`` instead of a bar."""
    plt = _pyplot()
    metrics = [m for m in metrics if any(m in s.metrics for s in systems)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 0.45 * len(systems) + 2.2))
    axes = [axes] if len(metrics) == 1 else list(axes)
    names = [s.name for s in systems]
    for ax, metric in zip(axes, metrics, strict=True):
        means: list[float] = []
        errors: list[list[float]] = [[], []]
        labels: list[str] = []
        for s in systems:
            iv = s.metrics.get(metric)
            known = iv is not None and not math.isnan(iv.mean)
            mean = iv.mean if iv is not None and known else 0.0
            means.append(mean)
            labels.append(f"{mean:.2f}" if known else "n/a")
            errors[0].append(max(mean - iv.low, 0) if iv and known and not math.isnan(iv.low) else 0)
            errors[1].append(max(iv.high - mean, 0) if iv and known and not math.isnan(iv.high) else 0)
        bars = ax.barh(range(len(systems)), means, xerr=errors, color="#4c72b0", capsize=3)
        ax.bar_label(bars, labels=labels, padding=4, fontsize=8)
        ax.set_xlim(0, max([m + e for m, e in zip(means, errors[1], strict=True)] + [1e-9]) * 1.25)
        ax.set_yticks(range(len(systems)), names if ax is axes[0] else [""] * len(systems))
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric} (mean, 95 % interval)")
        ax.set_title(metric)
    fig.suptitle("Metrics per system")
    fig.tight_layout()
    return fig


def per_intent(systems: Sequence[SystemResult], metric: str, path: Path) -> Path:
    """Heatmap: mean ``metric`` per intent (rows) and system (columns) (see :func:`per_intent_figure`)."""
    return _save(per_intent_figure(systems, metric), path)


def per_intent_figure(systems: Sequence[SystemResult], metric: str) -> Any:
    """The figure of :func:`per_intent`; each cell shows its value (``–`` where a system has none)."""
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
    for y, row in enumerate(grid):
        for x, value in enumerate(row):
            known = not math.isnan(value)
            ax.text(
                x,
                y,
                f"{value:.2f}" if known else "–",
                ha="center",
                va="center",
                fontsize=7,
                color="black" if known and value > 0.6 else "white",
            )
    ax.set_xticks(range(len(systems)), [s.name for s in systems], rotation=30, ha="right")
    ax.set_yticks(range(len(intents)), intents)
    ax.set_xlabel("system")
    ax.set_ylabel("intent")
    ax.set_title(f"{metric} per intent")
    fig.colorbar(image, ax=ax, label=metric)
    fig.tight_layout()
    return fig


def read_training_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a training run's ``metrics.jsonl`` (a directory holding it, or the file)."""
    file = Path(path)
    if file.is_dir():
        file = file / "metrics.jsonl"
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_curves(logs: Mapping[str, Sequence[Mapping[str, Any]]], path: Path) -> Path:
    """Training loss per step, and validation metrics per evaluation (see :func:`training_curves_figure`)."""
    return _save(training_curves_figure(logs), path)


def training_curves_figure(logs: Mapping[str, Sequence[Mapping[str, Any]]]) -> Any:
    """The figure of :func:`training_curves`: the loss panel, plus an "Evaluation during
    training" panel only when some run logged ``eval_*`` metrics (none is drawn empty)."""
    plt = _pyplot()
    evals: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for name, records in logs.items():
        points: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for r in records:
            for key, value in r.items():
                if key.startswith("eval_") and isinstance(value, int | float):
                    points[key].append((r["step"], value))
        evals[name] = points
    with_evals = any(evals.values())
    fig, axes = plt.subplots(1, 2 if with_evals else 1, figsize=(11 if with_evals else 6, 4))
    loss_ax = axes[0] if with_evals else axes
    for name, records in logs.items():
        steps = [r["step"] for r in records if "loss" in r]
        loss_ax.plot(steps, [r["loss"] for r in records if "loss" in r], label=name)
    loss_ax.set_xlabel("optimizer step")
    loss_ax.set_ylabel("training loss")
    loss_ax.set_title("Training loss")
    used = [loss_ax]
    if with_evals:
        eval_ax = axes[1]
        for name, points in evals.items():
            for key, pairs in points.items():
                eval_ax.plot(*zip(*pairs, strict=True), marker="o", label=f"{name}: {key[5:]}")
        eval_ax.set_xlabel("optimizer step")
        eval_ax.set_ylabel("validation metric")
        eval_ax.set_title("Evaluation during training")
        used.append(eval_ax)
    for ax in used:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
