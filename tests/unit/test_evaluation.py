"""Metrics, intervals, the Evaluator, the nearest-neighbour baseline and reports (tiny model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from supportkit import PEFTModel
from supportkit.config import Config
from supportkit.data.readers import Conversation
from supportkit.errors import UnknownNameError
from supportkit.evaluation.baselines import NearestNeighbourBaseline
from supportkit.evaluation.evaluator import EvalExample, Evaluator, timed_predictions
from supportkit.evaluation.metrics import METRICS, register_metric, score
from supportkit.evaluation.report import compare, write_report
from supportkit.evaluation.stats import bootstrap_mean, paired_difference
from supportkit.pipelines.inference import InferencePipeline
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import HashingEmbedder

EXAMPLES = [
    EvalExample("Where is my order BC-1?", "Track order BC-1 under Account > Orders.", "track_order"),
    EvalExample("I was charged twice", "Duplicate charges are refunded within 5 days.", "duplicate_charge"),
    EvalExample("How do I return shoes?", "Returns are free within 30 days.", "return_item"),
    EvalExample("Where is parcel BC-2?", "Track order BC-2 under Account > Orders.", "track_order"),
]
TRAIN = [
    EvalExample("where is order BC-9", "Track order BC-9 under Account > Orders.", "track_order"),
    EvalExample(
        "I was charged twice on my card", "Duplicate charges are refunded within 5 days.", "duplicate_charge"
    ),
    EvalExample("return my shoes please", "Returns are free within 30 days.", "return_item"),
]


def test_text_metrics_and_empty_predictions() -> None:
    s = score(
        ["the refund takes five days", "", "{{Order Number}} is late"],
        ["the refund takes five days", "x", "y"],
        ["bleu", "rougeL", "length", "placeholder_leak"],
    )
    assert s["bleu"][0] == pytest.approx(1.0) and s["rougeL"][0] == 1.0
    assert s["bleu"][1] == 0.0 and s["rougeL"][1] == 0.0 and s["length"][1] == 0.0
    assert s["placeholder_leak"] == [0.0, 0.0, 1.0] and s["length"][0] == 5.0
    with pytest.raises(UnknownNameError, match="bleu"):
        METRICS.get("blue")


def test_bootstrap_intervals_and_paired_differences() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(300)
    iv = bootstrap_mean(a)
    assert iv.low < iv.mean < iv.high and iv.n == 300 and iv.high - iv.low < 0.1
    shifted = paired_difference(a + 0.05 + rng.normal(0, 0.02, 300), a)
    assert shifted.excludes_zero() and shifted.low > 0
    noise = paired_difference(a + rng.normal(0, 0.02, 300), a)
    assert not noise.excludes_zero()
    assert bootstrap_mean([0.5]).low == bootstrap_mean([0.5]).high == 0.5
    assert bootstrap_mean([]).n == 0
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([1.0], [1.0, 2.0])


def test_example_from_multi_turn_conversation_keeps_history() -> None:
    conv = Conversation(
        (
            {"role": "system", "content": "s"},
            {"role": "user", "content": "my order is late"},
            {"role": "assistant", "content": "What is the order number?"},
            {"role": "user", "content": "BC-123"},
            {"role": "assistant", "content": "Order BC-123 ships today."},
        ),
        intent="late_delivery",
        source="f.jsonl:3",
    )
    e = EvalExample.from_conversation(conv)
    assert (e.question, e.reference, e.intent, e.id) == (
        "BC-123",
        "Order BC-123 ships today.",
        "late_delivery",
        "f.jsonl:3",
    )
    assert [m["content"] for m in e.history] == ["my order is late", "What is the order number?"]


def test_nearest_neighbour_baseline_answers_with_the_closest_training_answer() -> None:
    baseline = NearestNeighbourBaseline(TRAIN, HashingEmbedder())
    assert baseline.answer("where is my order BC-5") == TRAIN[0].reference
    evaluator = Evaluator(None, intent_reference=TRAIN, embedder=HashingEmbedder())
    predictions, extra = timed_predictions(baseline.answer, EXAMPLES)
    result = evaluator.score_predictions("nn", EXAMPLES, predictions, extra)
    # an answer's intent is that of the training answer it matches; the NN returns training answers
    by_answer = {e.reference: e.intent for e in TRAIN}
    assert [r["answer_intent"] for r in result.rows] == [by_answer[p] for p in predictions]
    hits = [float(by_answer[p] == e.intent) for p, e in zip(predictions, EXAMPLES, strict=True)]
    assert result.metrics["intent_accuracy"].mean == pytest.approx(sum(hits) / 4)
    assert result.rows[1]["rougeL"] == 1.0 and result.metrics["latency_s"].n == 4


def test_custom_metric_is_used_by_the_evaluator() -> None:
    @register_metric("mentions_order", replace=True)
    def mentions_order(predictions: list[str], references: list[str]) -> list[float]:
        return [float("order" in p.lower()) for p in predictions]

    evaluator = Evaluator(None, metrics=["rougeL", "mentions_order"], embedder=HashingEmbedder())
    result = evaluator.score_predictions("x", EXAMPLES, ["Your order ships", "", "no", "ORDER"])
    assert [r["mentions_order"] for r in result.rows] == [1.0, 0.0, 0.0, 1.0]
    assert result.metrics["mentions_order"].mean == 0.5
    with pytest.raises(UnknownNameError):
        Evaluator(None, metrics=["no_such_metric"], embedder=HashingEmbedder())


@pytest.fixture
def evaluated(tiny_config: Config) -> list:
    config = tiny_config.with_overrides(["generation.max_new_tokens=4", "generation.batch_size=2"])
    bank = ExampleBank(embedder=HashingEmbedder())
    pipeline = InferencePipeline(PEFTModel(config), config, bank=bank)
    evaluator = Evaluator(pipeline, intent_reference=TRAIN, resamples=200)
    tuned = evaluator.evaluate(EXAMPLES, name="tiny + zero_shot", strategy="zero_shot", progress=False)
    baseline = NearestNeighbourBaseline(TRAIN, HashingEmbedder())
    nn = evaluator.score_predictions("nn", EXAMPLES, *timed_predictions(baseline.answer, EXAMPLES))
    return [tuned, nn]


def test_evaluator_runs_the_pipeline_batched(evaluated: list) -> None:
    tuned = evaluated[0]
    assert len(tuned.rows) == 4 and tuned.info["strategy"] == "zero_shot"
    row = tuned.rows[0]
    assert {
        "question",
        "reference",
        "prediction",
        "rougeL",
        "similarity",
        "bleu",
        "latency_s",
        "escalated",
        "generated_tokens",
        "answer_intent",
    } <= set(row)
    assert all(r["generated_tokens"] > 0 for r in tuned.rows) and tuned.metrics["latency_s"].mean > 0
    assert set(tuned.metrics) >= {"rougeL", "similarity", "bleu", "length", "placeholder_leak", "latency_s"}


def test_report_files_plots_and_comparisons(evaluated: list, tmp_path: Path) -> None:
    logs = tmp_path / "run"
    logs.mkdir()
    (logs / "metrics.jsonl").write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"step": 1, "loss": 3.0},
                {"step": 2, "loss": 2.5, "eval_val_loss": 2.7, "eval_rougeL": 0.2},
                {"step": 3, "loss": 2.1},
                {"step": 4, "loss": 1.9, "eval_val_loss": 2.2, "eval_rougeL": 0.3},
            ]
        )
    )
    paths = write_report(
        tmp_path / "report",
        evaluated,
        title="Tiny <report>",
        comparisons=[("nn", "tiny + zero_shot")],
        training_logs={"tiny": logs},
        notes=["a note"],
    )
    data = json.loads(paths.json.read_text())  # strict JSON: no NaN
    assert "NaN" not in paths.json.read_text()
    assert [s["name"] for s in data["systems"]] == ["tiny + zero_shot", "nn"]
    assert len(data["systems"][1]["rows"]) == 4 and data["comparisons"][0]["metric"] == "rougeL"
    assert data["comparisons"][0]["significant"] in (True, False)
    html = paths.html.read_text()
    assert "Tiny &lt;report&gt;" in html and "<table>" in html
    covered = sorted({str(r["intent"]) for r in evaluated[0].rows if r["intent"]})
    assert data["intents_covered"] == covered and covered
    assert f"cover {len(covered)} intents: {', '.join(covered)}" in paths.markdown.read_text()
    assert len(paths.plots) == 3
    for png in paths.plots:
        assert f'src="plots/{png.name}"' in html and f"(plots/{png.name})" in paths.markdown.read_text()
        with Image.open(png) as image:
            image.load()  # decodes the whole file
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 100
    diff = compare(evaluated, [("nn", "tiny + zero_shot")], ["rougeL"])[0]
    assert diff.difference.mean == pytest.approx(
        evaluated[1].metrics["rougeL"].mean - evaluated[0].metrics["rougeL"].mean
    )
    with pytest.raises(KeyError, match="cannot compare"):
        compare(evaluated, [("nn", "missing")])


def _write_data(path: Path) -> Path:
    rows = []
    for i in range(12):
        rows.append(
            {
                "intent": "track_order",
                "messages": [
                    {"role": "user", "content": f"Where is my order BC-{1000 + i}?"},
                    {
                        "role": "assistant",
                        "content": f"Order BC-{1000 + i} is on its way; track it under Orders.",
                    },
                ],
            }
        )
        rows.append(
            {
                "intent": "refund_status",
                "messages": [
                    {"role": "user", "content": f"When is my refund for BC-{2000 + i} coming?"},
                    {
                        "role": "assistant",
                        "content": f"The refund for BC-{2000 + i} reaches you in 5 to 7 days.",
                    },
                ],
            }
        )
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _cli_overrides(tiny_model_dir: Path, tmp_path: Path) -> list[str]:
    return [
        f"model.name_or_path={tiny_model_dir}",
        f"data.train_file={_write_data(tmp_path / 'conv.jsonl')}",
        "data.dedup_threshold=null",
        "data.test_split=0.25",
        "data.val_split=0.0",
        "data.train_split=0.75",
        "generation.max_new_tokens=3",
        "training.max_steps=1",
        "training.batch_size=2",
        "training.eval_steps=null",
        "training.save_steps=null",
        f"training.output_dir={tmp_path / 'train'}",
        "evaluation.max_examples=4",
        "evaluation.bootstrap_resamples=100",
        f"evaluation.output_dir={tmp_path / 'report'}",
        f"knowledge.index_dir={tmp_path / 'kb'}",
    ]


def test_eval_command_writes_a_report(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supportkit.cli import main

    args = [
        "eval",
        *_cli_overrides(tiny_model_dir, tmp_path),
        "evaluation.strategies=[zero_shot, few_shot]",
        "peft.method=none",
        "--quiet",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    for name in ("none + zero_shot", "none + few_shot", "nearest-neighbour baseline"):
        assert name in out, out
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [len(s["rows"]) for s in data["systems"]] == [4, 4, 4]
    # the nearest-neighbour baseline answers from the train split, never the evaluated answer itself
    test_refs = {r["reference"] for r in data["systems"][2]["rows"]}
    assert not test_refs & {r["prediction"] for r in data["systems"][2]["rows"]}


def test_compare_command_trains_each_method_and_tabulates(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supportkit.cli import main

    args = [
        "compare",
        *_cli_overrides(tiny_model_dir, tmp_path),
        "evaluation.methods=[none, lora, pfeiffer]",
        "evaluation.strategies=[zero_shot]",
        "evaluation.leave_out_intents=[refund_status]",
        "--quiet",
    ]
    assert main(args) == 0
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    names = [s["name"] for s in data["systems"]]
    unseen = "lora + zero_shot, on intents left out of training (2 questions)"
    assert names == [
        "none + zero_shot",
        "lora + zero_shot",
        "pfeiffer + zero_shot",
        unseen,
        "nearest-neighbour baseline",
    ]
    assert {r["intent"] for r in data["systems"][3]["rows"]} == {"refund_status"}
    assert unseen not in {c["a"] for c in data["comparisons"]} | {c["b"] for c in data["comparisons"]}
    lora, pfeiffer = data["systems"][1]["info"], data["systems"][2]["info"]
    assert lora["trainable_params"] > 0 and lora["adapter_mb"] > 0 and lora["train_steps"] == 1
    assert pfeiffer["trainable_params"] != lora["trainable_params"]
    assert data["summary"][1]["trainable params"] == f"{lora['trainable_params']:,}"
    assert (tmp_path / "report" / "plots" / "training.png").is_file()
    assert ("lora + zero_shot", "none + zero_shot") in {(c["a"], c["b"]) for c in data["comparisons"]}


def test_comparison_pairs_cover_first_baselines_and_strategies_within_a_method() -> None:
    from supportkit.evaluation.compare import comparison_pairs
    from supportkit.evaluation.evaluator import SystemResult

    def system(name: str, method: str, **info: Any) -> SystemResult:
        return SystemResult(name, [], {}, {"method": method, **info})

    systems = [
        system("none + zero_shot", "none"),
        system("none + few_shot", "none"),
        system("lora + zero_shot", "lora"),
        system("lora + combined", "lora"),
        system("lora on unseen intents", "lora", other_questions=True),
        system("nearest-neighbour baseline", "-"),
    ]
    pairs = comparison_pairs(systems)
    assert ("lora + combined", "lora + zero_shot") in pairs  # combined vs LoRA alone
    assert ("lora + zero_shot", "nearest-neighbour baseline") in pairs
    assert ("lora + zero_shot", "none + zero_shot") in pairs
    assert ("none + few_shot", "none + zero_shot") in pairs
    assert not any("unseen" in a or "unseen" in b for a, b in pairs)
    assert len(pairs) == len(set(pairs)) and comparison_pairs([]) == []


def test_evaluator_separates_request_latency_from_throughput(evaluated: list) -> None:
    tuned = evaluated[0]
    assert all(0 < r["ttft_s"] <= r["latency_s"] for r in tuned.rows)
    assert tuned.info["answers_per_s"] > 0 and tuned.info["generated_tokens_per_s"] > 0
    assert tuned.info["generation_s"] > 0 and "ttft_s" in tuned.metrics
