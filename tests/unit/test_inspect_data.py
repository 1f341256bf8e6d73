"""``supportkit data inspect`` on messy files: BOM, semicolons, bad rows, a wrong mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supportkit.config import Config
from supportkit.recipes.inspect_data import format_inspection, inspect_data

MESSY = (
    "\ufeffFrage;Antwort;intent\n"
    '"How do I pay?";"By card, or mail jane.doe@example.com";billing\n'
    '"how do I pay";"By card.";billing\n'
    '"broken"\n'
    '"Where is my order?";"";shipping\n'
    '"Where is my parcel?";"' + "It is on its way and will arrive soon. " * 12 + '";shipping\n'
)


def _config(*overrides: str) -> Config:
    return Config().with_overrides(["data.column_mapping={Frage: question, Antwort: answer}", *overrides])


def test_messy_semicolon_csv_with_a_bom(tmp_path: Path, smol_tokenizer: Any) -> None:
    path = tmp_path / "export.csv"
    path.write_text(MESSY, encoding="utf-8")
    r = inspect_data(
        path, _config("data.max_length=64", "data.add_system_prompt=false"), tokenizer=smol_tokenizer
    )
    assert (r.format, r.delimiter, r.bom, r.columns) == ("CSV", ";", True, ["Frage", "Antwort", "intent"])
    assert r.problem is None and r.rows == 5
    assert [e.split(": ", 1)[0] for e in r.bad_rows] == [f"{path}:4", f"{path}:5"]
    assert dict(r.intents) == {"billing": 2, "shipping": 1}
    assert r.answer_words == [5, 2, 108]
    assert len(r.tokens) == 3 and max(r.tokens[:2]) <= 64 < 100 < r.tokens[2]
    assert r.cut == 1 and r.dropped == []  # only the long answer is cut at data.max_length=64
    assert r.duplicates == [[f"{path}:2", f"{path}:3"]]  # same words, other case and punctuation
    assert r.pii == {f"{path}:2": ["EMAIL"]}
    text = format_inspection(r)
    for expected in (
        "CSV (with a BOM)",
        "delimiter:   ';'",
        "5 (3 usable, 2 bad)",
        f"bad row  {path}:4",
        "billing",
        "1 would have the final answer cut",
        "  line 2: EMAIL",
        "  line 2, line 3",
    ):
        assert expected in text
    assert max(len(line) for line in text.splitlines() if "bad row" not in line and "file:" not in line) < 100


def test_a_wrong_mapping_is_reported_with_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Question Text,Answer,Intent\nHi?,Hello.,greet\n", encoding="utf-8")
    r = inspect_data(path, Config().with_overrides(["data.column_mapping={Question: question}"]))
    assert r.problem is not None and "'Question' (for question)" in r.problem
    suggestion = {"Question Text": "question", "Answer": "answer", "Intent": "intent"}
    assert r.suggested_mapping == suggestion
    assert f"suggested data.column_mapping: {suggestion}" in format_inspection(r)


def test_jsonl_bad_lines_and_drops(tmp_path: Path, smol_tokenizer: Any) -> None:
    path = tmp_path / "data.jsonl"
    long_question = "word " * 400
    path.write_text(
        '{"question": "Hi?", "answer": "Hello.", "intent": "greet"}\n'
        "{not json}\n"
        f'{{"question": "{long_question}", "answer": "Yes."}}\n',
        encoding="utf-8",
    )
    r = inspect_data(path, Config().with_overrides(["data.max_length=160"]), tokenizer=smol_tokenizer)
    assert r.format == "JSON Lines" and r.rows == 3 and r.bad_rows[0].startswith(f"{path}:2: bad JSON")
    assert r.dropped == [f"{path}:3"] and dict(r.intents) == {"greet": 1, "(none)": 1}


def test_near_duplicates_with_minilm(tmp_path: Path, smol_tokenizer: Any) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "question,answer\nHow can I pay for my order?,Card.\nWhere is my parcel?,Here.\n"
        "How do I pay for an order?,Card.\n",
        encoding="utf-8",
    )
    config = Config().with_overrides(["data.dedup_threshold=0.8"])
    exact = inspect_data(path, config, tokenizer=smol_tokenizer)
    assert exact.duplicates == [] and not exact.near_duplicates_checked
    r = inspect_data(path, config, tokenizer=smol_tokenizer, near_duplicates=True)  # the real MiniLM
    assert r.near_duplicates_checked and r.duplicates == [[f"{path}:2", f"{path}:4"]]


def test_cli_data_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from supportkit.cli import main

    path = tmp_path / "export.csv"
    path.write_text(MESSY, encoding="utf-8")
    assert main(["data", "inspect", str(path), "data.max_length=8"]) == 2  # no mapping: no question column
    assert "PROBLEM" in capsys.readouterr().out
    assert main(["data", "inspect", str(path), "data.column_mapping={Frage: question, Antwort: answer}"]) == 0
    assert "personal data found in 1 conversation(s)" in capsys.readouterr().out


def test_questions_shared_with_the_validation_file(tmp_path: Path, smol_tokenizer: Any) -> None:
    train, validation = tmp_path / "train.csv", tmp_path / "val.jsonl"
    train.write_text("question,answer\nHow do I pay?,Card.\nWhere is it?,Here.\n", encoding="utf-8")
    validation.write_text('{"question": "how do I pay", "answer": "By card."}\n', encoding="utf-8")
    config = Config().with_overrides([f"data.validation_file={validation}"])
    r = inspect_data(train, config, tokenizer=smol_tokenizer)
    assert r.duplicates == [] and r.across_files == [[f"{train}:2", f"{validation}:1"]]
    assert "shared with data.validation_file (they leak into validation): 1" in format_inspection(r)
