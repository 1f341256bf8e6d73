"""Evaluation reports: JSON (every number and per-example row), Markdown, and HTML with PNG plots.

paths = write_report("reports/run1", [base, tuned, baseline], title="Base vs LoRA",
                     comparisons=[("lora", "base")], training_logs={"lora": "outputs/run"})
print(paths.html)
"""

from __future__ import annotations

import html
import io
import json
import math
import shutil
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportkit.evaluation import plots
from supportkit.evaluation.evaluator import SystemResult
from supportkit.evaluation.sampling import intents_covered
from supportkit.evaluation.stats import Interval, paired_difference

SUMMARY_METRICS = (
    "rougeL",
    "similarity",
    "detail_recall",
    "bleu",
    "intent_accuracy",
    "escalated",
    "ttft_s",
    "latency_s",
    "length",
)
INFO_COLUMNS = (
    ("trainable_params", "trainable params"),
    ("trainable_pct", "trainable %"),
    ("adapter_mb", "adapter MB"),
    ("peak_memory_mb", "peak MB"),
    ("train_time_s", "train s"),
    ("train_tokens_per_s", "train tok/s"),
    ("answers_per_s", "answers/s"),
)


@dataclass
class Comparison:
    a: str
    b: str
    metric: str
    difference: Interval

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "metric": self.metric,
            "difference": self.difference.to_dict(),
            "significant": self.difference.excludes_zero(),
        }


@dataclass
class ReportPaths:
    json: Path
    markdown: Path
    html: Path
    plots: list[Path] = field(default_factory=list)


def compare(
    systems: Sequence[SystemResult],
    pairs: Sequence[tuple[str, str]],
    metrics: Sequence[str] = ("rougeL", "similarity"),
) -> list[Comparison]:
    """Paired bootstrap of ``a - b`` for each pair of system names and metric."""
    by_name = {s.name: s for s in systems}
    out = []
    for a, b in pairs:
        if a not in by_name or b not in by_name:
            raise KeyError(f"cannot compare {a!r} with {b!r}: systems are {', '.join(by_name)}")
        for metric in metrics:
            if metric in by_name[a].metrics and metric in by_name[b].metrics:
                diff = paired_difference(by_name[a].values(metric), by_name[b].values(metric))
                out.append(Comparison(a, b, metric, diff))
    return out


def _cell(value: Any) -> str:
    if isinstance(value, Interval):
        if math.isnan(value.mean):
            return "-"
        return value.format()  # significant digits: a latency interval never collapses to "0.000"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def summary_rows(
    systems: Sequence[SystemResult], metrics: Sequence[str] = SUMMARY_METRICS
) -> list[dict[str, str]]:
    """One row per system: its description columns (when any system has them), then each metric."""
    info_cols = [(k, label) for k, label in INFO_COLUMNS if any(k in s.info for s in systems)]
    metric_cols = [m for m in metrics if any(m in s.metrics for s in systems)]
    rows = []
    for s in systems:
        row = {"system": s.name}
        row.update({label: _cell(s.info.get(k)) for k, label in info_cols})
        row.update({m: _cell(s.metrics.get(m)) for m in metric_cols})
        rows.append(row)
    return rows


def format_summary(systems: Sequence[SystemResult], width: int | None = None) -> str:
    """:func:`summary_rows` as a table that fits ``width`` columns (default: the terminal's).

    Intervals go under their means; the metric columns come first, in :data:`SUMMARY_METRICS`
    order, then the description columns, as many as fit; the line under the table names the ones
    left out (every column is in the report's tables)."""
    from rich import box
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    rows = summary_rows(systems)
    if not rows:
        return "(no systems)"
    width = width or shutil.get_terminal_size((120, 24)).columns
    metrics = [c for c in SUMMARY_METRICS if c in rows[0]]
    order = ["system", *metrics, *(c for c in rows[0] if c != "system" and c not in metrics)]
    console = Console(width=width, file=io.StringIO(), color_system=None, highlight=False)

    def build(columns: list[str]) -> Table:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
        for c in columns:
            first = c == "system"
            table.add_column(
                c, overflow="fold", min_width=12 if first else None, max_width=28 if first else None
            )
        for row in rows:
            table.add_row(*(row[c].replace(" [", "\n[") for c in columns))
        return table

    unbounded = console.options.update_width(10**6)
    shown = order[:2]
    for column in order[2:]:
        if Measurement.get(console, unbounded, build([*shown, column])).maximum <= width:
            shown.append(column)
    with console.capture() as captured:
        console.print(build(shown))
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    left_out = [c for c in order if c not in shown]
    if left_out:
        note = f"(left out for the terminal's width: {', '.join(left_out)}; all columns are in the report)"
        text += "\n" + textwrap.fill(note, width)
    return text


def _markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "(none)\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")).replace("|", "\\|") for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _html_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p>(none)</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _comparison_rows(comparisons: Sequence[Comparison]) -> list[dict[str, str]]:
    return [
        {
            "a - b": f"{c.a} - {c.b}",
            "metric": c.metric,
            "difference [95 % interval]": c.difference.format(),
            "significant": "yes" if c.difference.excludes_zero() else "no",
        }
        for c in comparisons
    ]


def _sample_rows(systems: Sequence[SystemResult], count: int) -> list[dict[str, str]]:
    rows = []
    for i in range(min(count, min((len(s.rows) for s in systems), default=0))):
        row = {"question": systems[0].rows[i]["question"], "reference": systems[0].rows[i]["reference"]}
        row.update({s.name: s.rows[i]["prediction"] for s in systems})
        rows.append(row)
    return rows


def write_report(
    out_dir: str | Path,
    systems: Sequence[SystemResult],
    *,
    title: str = "Evaluation report",
    comparisons: Sequence[tuple[str, str]] = (),
    training_logs: Mapping[str, str | Path] | None = None,
    notes: Sequence[str] = (),
    samples: int = 5,
    settings: Mapping[str, Any] | None = None,
) -> ReportPaths:
    """Write ``report.json``, ``report.md``, ``report.html`` and ``plots/*.png`` into ``out_dir``.

    ``settings`` (what the numbers depend on, see :mod:`supportkit.evaluation.resume`) are kept
    in ``report.json`` so that a rerun can resume."""
    if not systems:
        raise ValueError("a report needs at least one evaluated system")
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    compared = compare(systems, comparisons)
    figures = [
        (
            "Metrics per system (mean and 95 % bootstrap interval)",
            plots.metric_bars(
                systems, ["rougeL", "similarity", "intent_accuracy"], out / "plots" / "metrics.png"
            ),
        ),
        ("ROUGE-L per intent", plots.per_intent(systems, "rougeL", out / "plots" / "per_intent.png")),
    ]
    logs = {name: plots.read_training_log(path) for name, path in (training_logs or {}).items()}
    if logs:
        figures.append(("Training curves", plots.training_curves(logs, out / "plots" / "training.png")))
    summary = summary_rows(systems)
    created = time.strftime("%Y-%m-%d %H:%M:%S")
    covered = intents_covered(systems[0].rows, key=lambda r: r.get("intent"))
    coverage = f"The {len(systems[0].rows)} examples cover {len(covered)} intents: {', '.join(covered)}."
    data = {
        "title": title,
        "created": created,
        "intents_covered": covered,
        "notes": list(notes),
        "summary": summary,
        "comparisons": [c.to_dict() for c in compared],
        "systems": [s.to_dict() for s in systems],
        "training_logs": logs,
        "settings": dict(settings) if settings is not None else None,
    }
    json_path = out / "report.json"
    json_path.write_text(json.dumps(_finite(data), indent=1, default=_json_default), encoding="utf-8")

    md = [
        f"# {title}\n",
        f"Created {created}. Means with 95 % bootstrap intervals over {len(systems[0].rows)} examples.\n",
        f"\n{coverage}\n",
        "\n## Summary\n",
        _markdown_table(summary),
    ]
    if compared:
        md += ["\n## Differences (paired bootstrap)\n", _markdown_table(_comparison_rows(compared))]
    md += [f"\n## {caption}\n\n![{caption}](plots/{path.name})\n" for caption, path in figures]
    md += ["\n## Sample answers\n", _markdown_table(_sample_rows(systems, samples))]
    md += [f"\n{n}\n" for n in notes]
    md_path = out / "report.md"
    md_path.write_text("".join(md), encoding="utf-8")

    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Created {created}. Means with 95 % bootstrap intervals.</p>",
        f"<p>{html.escape(coverage)}</p>",
        "<h2>Summary</h2>",
        _html_table(summary),
    ]
    if compared:
        body += ["<h2>Differences (paired bootstrap)</h2>", _html_table(_comparison_rows(compared))]
    body += [
        f'<h2>{html.escape(c)}</h2><img src="plots/{p.name}" alt="{html.escape(c)}">' for c, p in figures
    ]
    body += ["<h2>Sample answers</h2>", _html_table(_sample_rows(systems, samples))]
    body += [f"<p>{html.escape(n)}</p>" for n in notes]
    html_path = out / "report.html"
    html_path.write_text(_HTML.format(title=html.escape(title), body="\n".join(body)), encoding="utf-8")
    return ReportPaths(json_path, md_path, html_path, [p for _, p in figures])


def _finite(value: Any) -> Any:
    """NaN and infinities become null: the JSON stays valid for every reader."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Interval):
        return _finite(value.to_dict())
    return str(value)


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 1200px; }}
table {{ border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
img {{ max-width: 100%; }}
</style></head><body>
{body}
</body></html>
"""


def load_systems(report_json: str | Path) -> list[SystemResult]:
    """The evaluated systems of a written ``report.json`` (to re-render or compare them again)."""
    data = json.loads(Path(report_json).read_text(encoding="utf-8"))
    return [
        SystemResult(
            s["name"],
            s["rows"],
            {
                k: Interval(
                    **{f: float("nan") if v[f] is None else v[f] for f in ("mean", "low", "high")}, n=v["n"]
                )
                for k, v in s["metrics"].items()
            },
            s.get("info", {}),
        )
        for s in data["systems"]
    ]
