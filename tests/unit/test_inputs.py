"""Input checks at every entry point: empty questions refused, long ones cut and reported, control
characters and invalid Unicode handled (pipeline respond/stream/batch, ask, chat, conversation tests)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from supportkit import PEFTModel
from supportkit.cli import main
from supportkit.config import Config
from supportkit.errors import DataError, RequestError
from supportkit.guardrails.inputs import check_query, clean_text, preview
from supportkit.pipelines.inference import InferencePipeline
from supportkit.pipelines.response import Request
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import HashingEmbedder

EMPTY = ["", "   ", "\n\t ", "\x00\x01\x1b", "\u200b\ufeff", "\ufffd \ud800", " \x7f\x9f "]
LONG = "My order BC-48213 is late and " + "I have waited a very long time for it " * 530 + "what now?"


@pytest.mark.parametrize("text", EMPTY)
def test_questions_with_nothing_to_read_are_refused(text: str) -> None:
    with pytest.raises(RequestError, match="query is empty"):
        check_query(text, max_chars=4000)


def test_non_text_question_is_refused() -> None:
    with pytest.raises(RequestError, match="must be text, got int"):
        check_query(42, max_chars=4000)


def test_cleaning_keeps_line_breaks_and_replaces_invalid_unicode() -> None:
    text, changed = clean_text("Line one\r\nline two\x00\x07 caf\u0065\u0301 \udcff 😀👍🏽")
    assert text == "Line one\nline two café \ufffd 😀👍🏽"  # NFC: e + combining acute is é
    assert changed == 3  # two control characters removed, one lone surrogate replaced
    text.encode("utf-8")  # storable and tokenizable: no lone surrogate left


def test_long_question_is_cut_at_a_word_boundary_and_reported() -> None:
    checked = check_query(LONG, max_chars=4000)
    assert len(LONG) > 20_000 and len(checked.text) <= 4000
    assert checked.truncated == {"from_chars": len(LONG), "to_chars": len(checked.text)}
    assert LONG.startswith(checked.text) and LONG[len(checked.text)] == " "  # never half a word
    assert check_query("short question", max_chars=4000).truncated is None
    assert len(preview(LONG)) < 240 and f"{len(LONG):,} characters" in preview(LONG)


@pytest.fixture
def pipeline(tiny_config: Config, tmp_path: Path) -> InferencePipeline:
    config = tiny_config.with_overrides(
        ["generation.max_new_tokens=4", f"prompt.store_path={tmp_path / 'store.db'}"]
    )
    return InferencePipeline(PEFTModel(config), config, bank=ExampleBank(embedder=HashingEmbedder()))


def test_every_pipeline_entry_point_refuses_empty_questions(pipeline: InferencePipeline) -> None:
    for text in ("   ", "\x00\x01"):
        with pytest.raises(RequestError, match="query is empty"):
            pipeline.respond(text)
        with pytest.raises(RequestError, match="query is empty"):
            pipeline.stream(text)
        with pytest.raises(RequestError, match="query is empty"):
            pipeline.respond_batch([Request("fine question"), {"query": text}])


def test_long_question_is_cut_and_reported_in_respond_stream_and_batch(pipeline: InferencePipeline) -> None:
    expected = {"from_chars": len(LONG), "to_chars": check_query(LONG, max_chars=4000).text.__len__()}
    prompt = pipeline.prompt_for(LONG)
    assert LONG[:3990] in prompt.messages[-1]["content"] and LONG[4000:] not in prompt.messages[-1]["content"]
    assert pipeline.respond(LONG).input_truncated == expected
    handle = pipeline.stream(LONG)
    list(handle)
    assert handle.response is not None and handle.response.input_truncated == expected
    batched = pipeline.respond_batch([Request(LONG), Request("where is my parcel")])
    assert batched[0].input_truncated == expected and batched[1].input_truncated is None


def test_invalid_unicode_and_controls_reach_neither_model_nor_store(pipeline: InferencePipeline) -> None:
    r = pipeline.respond("where is my\x00 parcel \udcff?\x1b[31m", user_id="u1")
    assert r.stored is True
    stored = pipeline.store.history("u1")[0]["content"]  # type: ignore[union-attr]
    assert stored == "where is my parcel \ufffd?[31m"
    history = [{"role": "user", "content": "earlier\x00 \ud800"}, {"role": "assistant", "content": "ok"}]
    prompt = pipeline.prompt_for("and now?", history=history)
    assert any(m["content"] == "earlier \ufffd" for m in prompt.messages)


def _config_file(tiny_config: Config, tmp_path: Path) -> str:
    path = tmp_path / "tiny.yaml"
    tiny_config.with_overrides(["generation.max_new_tokens=4"]).to_yaml(path)
    return str(path)


def test_ask_refuses_an_empty_question_before_loading_and_never_echoes_a_long_one(
    tiny_config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config_file(tiny_config, tmp_path)
    assert main(["ask", " \x01 ", config]) == 2
    assert "query is empty" in capsys.readouterr().err
    assert main(["ask", LONG, config, "prompt.few_shot_file=null"]) == 0
    out = capsys.readouterr().out
    assert LONG[:500] not in out and f"({len(LONG):,} characters)" in out
    assert f"cut from {len(LONG):,} to" in out


def test_chat_says_what_is_wrong_with_a_line_and_goes_on(
    tiny_config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\x01\x02\nwhere is my parcel\n" + LONG + "\n"))
    assert main(["chat", _config_file(tiny_config, tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "error: the query is empty" in out
    assert out.count("assistant: ") == 2 and f"cut from {len(LONG):,} to" in out


def test_conversation_test_turn_of_control_characters_is_a_file_error(tmp_path: Path) -> None:
    from supportkit.recipes.conversation_tests import load_conversation_tests

    suite = tmp_path / "suite.yaml"
    turn = '      - user: "\\x01\\x02"\n        expect: {}\n'
    suite.write_text("conversations:\n  - name: a\n    turns:\n" + turn)
    with pytest.raises(DataError, match=r"suite\.yaml:4: a turn needs the customer's message"):
        load_conversation_tests(suite)


def test_cli_notes_say_how_the_question_was_taken(capsys: pytest.CaptureFixture[str]) -> None:
    from supportkit.commands.assistant import _print_notes
    from supportkit.pipelines.response import Response

    german = {"code": "de", "confidence": 0.99, "supported": False, "action": "escalate"}
    _print_notes(Response("handed off", "zero_shot", None, "retail@1.1", escalate=True, language=german))
    cut = {"from_chars": 20_000, "to_chars": 3_996}
    english = {"code": "en", "confidence": 0.9, "supported": True, "action": None}
    _print_notes(Response("answer", "zero_shot", None, "retail@1.1", input_truncated=cut, language=english))
    out = capsys.readouterr().out
    assert "looks German (de)" in out and "handed to a person" in out
    assert "cut from 20,000 to 3,996 characters" in out and "looks English" not in out
