"""Readable output: the comparison table fits the terminal, intervals keep their width, parameter
counts are real, eval names what it evaluated, answers cut by max_new_tokens end cleanly (respond
and stream), and the report's plots label what they show."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from supportkit import PEFTModel
from supportkit.config import Config
from supportkit.evaluation.evaluator import SystemResult
from supportkit.evaluation.plots import metric_bars_figure, per_intent_figure, training_curves_figure
from supportkit.evaluation.report import format_summary, summary_rows
from supportkit.evaluation.stats import Interval
from supportkit.generation import DECODERS, DecodeItem, Generated, TextSink
from supportkit.pipelines.inference import InferencePipeline
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import HashingEmbedder
from tests.unit.test_evaluation import _cli_overrides


def _iv(mean: float, low: float, high: float) -> Interval:
    return Interval(mean, low, high, 50)


METRICS = {
    "rougeL": _iv(0.412, 0.389, 0.436),
    "similarity": _iv(0.71, 0.69, 0.73),
    "detail_recall": _iv(0.0, 0.0, 0.0),
    "bleu": _iv(12.3, 10.1, 14.2),
    "intent_accuracy": _iv(0.9, 0.85, 0.95),
    "escalated": _iv(0.02, 0.0, 0.06),
    "latency_s": _iv(2.345, 2.31, 2.38),
    "length": _iv(45.2, 40.1, 50.3),
}
INFO = {
    "trainable_params": 16384,
    "trainable_pct": 0.5,
    "adapter_mb": 0.07,
    "peak_memory_mb": 1200,
    "train_time_s": 33.2,
    "train_tokens_per_s": 1234.5,
}
SYSTEMS = [
    SystemResult("lora + few_shot:similarity", [], METRICS, INFO),
    SystemResult(
        "nearest-neighbour baseline",
        [],
        {"rougeL": _iv(0.3, 0.25, 0.35), "latency_s": _iv(0.000123, 0.00011, 0.00014)},
        {"trainable_params": 0},
    ),
]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_comparison_table_fits_the_terminal_and_names_what_it_leaves_out(width: int) -> None:
    text = format_summary(SYSTEMS, width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "rougeL" in text and "0.412" in text and "[0.389, 0.436]" in text
    assert "nearest-neighbour" in text and "all columns are in the report" in text
    note = " ".join(text.split("left out")[1].split())
    assert "train tok/s" in note and "rougeL" not in note  # metrics first, descriptions left out first


def test_wide_terminal_shows_every_column_with_intervals_that_keep_their_width() -> None:
    text = format_summary(SYSTEMS, 400)
    assert "left out" not in text
    for column in ("trainable params", "train tok/s", "latency_s", "length"):
        assert column in text
    assert "[0.000110, 0.000140]" in text  # a baseline's microseconds, not "0.000 [0.000, 0.000]"
    assert "[2.310, 2.380]" in text and "16,384" in text


def test_interval_digits_follow_the_interval() -> None:
    assert _iv(0.412, 0.389, 0.436).format() == "0.412 [0.389, 0.436]"
    assert _iv(0.000123, 0.00011, 0.00014).format() == "0.000123 [0.000110, 0.000140]"
    assert _iv(2.345, 2.31, 2.38).format() == "2.345 [2.310, 2.380]"
    assert _iv(45.2, 40.1, 50.3).format() == "45 [40, 50]"
    assert _iv(0.5, 0.5, 0.5).format() == "0.500 [0.500, 0.500]"
    assert _iv(0.5, 0.4, 0.6).format(1) == "0.5 [0.4, 0.6]"


def test_eval_labels_a_config_without_adapter_as_the_base_and_counts_adapter_parameters(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supportkit.cli import main

    common = [*_cli_overrides(tiny_model_dir, tmp_path), "evaluation.strategies=[zero_shot]"]
    assert main(["eval", *common, "peft.method=lora", "--quiet"]) == 0
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    base = data["systems"][0]
    assert base["name"] == "none + zero_shot" and "no adapter" in base["info"]["model"]
    assert base["info"]["trainable_params"] == 0
    # a saved (trained or not) LoRA adapter: its real parameter count, never "-"
    config = Config().with_overrides([f"model.name_or_path={tiny_model_dir}", "peft.method=lora"])
    saved = PEFTModel(config).save_model(tmp_path / "lora")
    assert main(["eval", *common, "peft.method=lora", f"evaluation.adapter={saved}", "--quiet"]) == 0
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    tuned = data["systems"][0]
    assert tuned["name"] == "lora + zero_shot" and tuned["info"]["trainable_params"] > 0
    rows = data["summary"]
    assert rows[0]["trainable params"] == f"{tuned['info']['trainable_params']:,}"
    assert "-" not in rows[0]["trainable params"]


class CutDecoder:
    """Answers every item with ``script[0]`` streamed in 3-character pieces, stopped by max_new_tokens."""

    script: ClassVar[list[str]] = [""]

    def __init__(self, model: Any, *, batch_size: int = 8) -> None:
        self.model = model

    def generate(self, items: Sequence[DecodeItem], streamer: TextSink | None = None) -> list[Generated]:
        text = self.script[0]
        for index in range(len(items)):
            if streamer is not None:
                for start in range(0, len(text), 3):
                    streamer.push(index, text[start : start + 3])
                streamer.close(index)
        return [Generated(text, len(i.input_ids), len(text.split()), False, "length") for i in items]


DECODERS.add("cut-test", CutDecoder, replace=True)


@pytest.mark.parametrize(
    ("generated", "shown"),
    [
        (
            "To reset:\n1. Open Settings.\n2. Click Reset.\n3. Confirm",
            "To reset:\n1. Open Settings.\n2. Click Reset.",
        ),
        ("Steps:\n- one\n- two\n- thr", "Steps:\n- one\n- two"),
        ("Hello there.\n\nSecond part here. And more", "Hello there.\n\nSecond part here."),
        (
            "You can return it within 30 days if it is in its orig",
            "You can return it within 30 days if it is in its…",
        ),
        ("Price is 3.5 euros. Ok", "Price is 3.5 euros."),
    ],
)
def test_a_cut_answer_keeps_its_line_breaks_and_loses_its_fragment(
    tiny_config: Config, tmp_path: Path, generated: str, shown: str
) -> None:
    config = tiny_config.with_overrides(["generation.engine=cut-test"])
    pipeline = InferencePipeline(PEFTModel(config), config, bank=ExampleBank(embedder=HashingEmbedder()))
    CutDecoder.script[0] = generated
    assert pipeline.respond("how do I reset it").text == shown
    handle = pipeline.stream("how do I reset it")
    assert "".join(handle) == shown and handle.response is not None and handle.response.text == shown


def _texts(fig: Any) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_bars_are_labelled_even_at_zero_and_missing_values_say_so() -> None:
    fig = metric_bars_figure(SYSTEMS, ["rougeL", "detail_recall", "intent_accuracy"])
    labels = _texts(fig)
    assert labels.count("0.41") == 1 and "0.30" in labels
    assert "0.00" in labels  # the tuned system's detail_recall of 0: a visible label, not a missing bar
    assert labels.count("n/a") == 2  # the baseline has neither detail_recall nor intent_accuracy


def test_heatmap_cells_show_their_numbers() -> None:
    rows = [
        {"intent": "refund", "rougeL": 0.25},
        {"intent": "refund", "rougeL": 0.75},
        {"intent": "track", "rougeL": 0.1},
    ]
    systems = [SystemResult("a", rows, {}), SystemResult("b", rows[:2], {})]
    fig = per_intent_figure(systems, "rougeL")
    assert sorted(_texts(fig)) == sorted(["0.50", "0.10", "0.50", "–"])


def test_training_plot_draws_the_evaluation_panel_only_with_evaluations() -> None:
    plain = training_curves_figure({"lora": [{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.0}]})
    assert [ax.get_title() for ax in plain.axes] == ["Training loss"]
    logged = training_curves_figure({"lora": [{"step": 1, "loss": 3.0}, {"step": 2, "eval_rougeL": 0.2}]})
    assert [ax.get_title() for ax in logged.axes] == ["Training loss", "Evaluation during training"]


def test_summary_rows_keep_zero_parameter_counts() -> None:
    rows = summary_rows(SYSTEMS)
    assert rows[0]["trainable params"] == "16,384" and rows[1]["trainable params"] == "0"


def test_a_quoted_answer_keeps_the_article_list_one_item_a_line() -> None:
    from supportkit.guardrails.groundedness import extract_answer, source_sentences
    from supportkit.retrieval.passages import Passage

    article = "To reset your password:\n1. Open the Settings page.\n2. Click Reset password now.\n"
    assert source_sentences(article)[1:] == ["1. Open the Settings page.", "2. Click Reset password now."]
    listed = "- Open the Settings page of your account.\n- Click Reset password there.\n"
    quoted = extract_answer(
        "reset password settings page", [Passage("a#0", "a", "A", "", listed, "")], HashingEmbedder()
    )
    assert quoted == "- Open the Settings page of your account.\n- Click Reset password there."
    prose = "You can return items within 30 days. Refunds take 5 days to arrive."
    quoted = extract_answer(
        "return refund days", [Passage("b#0", "b", "B", "", prose, "")], HashingEmbedder()
    )
    assert quoted in prose and "\n" not in quoted  # prose stays prose


def test_chat_prints_the_streamed_answer_with_its_line_breaks_and_without_the_fragment(
    tiny_config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    from supportkit.cli import main

    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "reset.md").write_text(
        "# Resetting\n\nTo reset:\n1. Open Settings.\n2. Click Reset.\n3. Confirm.\n"
    )
    path = tmp_path / "chat.yaml"
    settings = [
        "generation.engine=cut-test",
        "serving.engine=cut-test",  # chat decodes with the server's engine
        f"knowledge.path={kb}",
        f"knowledge.index_dir={tmp_path / 'index'}",
        "knowledge.embedder=hashing",
        "knowledge.cite=false",
        "knowledge.min_similarity=0",
        "guardrails.min_retrieval_similarity=0",
        f"prompt.few_shot_file={tmp_path / 'none.jsonl'}",
        f"guardrails.intent_file={tmp_path / 'none.jsonl'}",
    ]
    (tmp_path / "none.jsonl").write_text('{"question": "hi there", "answer": "Hello!", "intent": "greet"}\n')
    tiny_config.with_overrides(settings).to_yaml(path)
    CutDecoder.script[0] = "To reset:\n1. Open Settings.\n2. Click Reset.\n3. Conf"
    monkeypatch.setattr(sys, "stdin", io.StringIO("how do I reset it\n"))
    assert main(["chat", str(path)]) == 0
    out = capsys.readouterr().out
    assert "assistant: To reset:\n1. Open Settings.\n2. Click Reset.\n" in out and "3." not in out
