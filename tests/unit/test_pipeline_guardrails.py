"""The pipeline with a knowledge base and guardrails, on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from supportkit import PEFTModel
from supportkit.config import Config
from supportkit.pipelines.inference import InferencePipeline
from supportkit.pipelines.response import Request
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import HashingEmbedder


@pytest.fixture
def pipeline(tiny_config: Config, tmp_path: Path) -> InferencePipeline:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "returns.md").write_text("# Returns policy\n\nReturn items within 30 days of delivery.\n")
    (kb / "shipping.md").write_text("# Shipping\n\nExpress shipping costs $9.99.\n")
    config = tiny_config.with_overrides(
        [
            "generation.max_new_tokens=6",
            f"prompt.store_path={tmp_path / 'store.db'}",
            f"knowledge.path={kb}",
            f"knowledge.index_dir={tmp_path / 'index'}",
            "knowledge.min_similarity=0.0",
            # the hashing embedder's scale differs from MiniLM's: no "nothing relevant" escalation here
            "guardrails.min_retrieval_similarity=0.0",
            "guardrails.on_ungrounded=escalate",
            "guardrails.min_groundedness=0.0",
        ]
    )
    bank = ExampleBank(embedder=HashingEmbedder())
    bank.add("I want to complain about the driver", "Sorry; a colleague will call.", intent="complaint")
    bank.add("I have a complaint about your service", "Sorry; a colleague will call.", intent="complaint")
    bank.add("where is my parcel", "Track it under Orders.", intent="track_order")
    bank.add("can I return items I bought", "Yes, within 30 days.", intent="return_item")
    bank.add("how do I return items", "Use Return item under Orders.", intent="return_item")
    return InferencePipeline(PEFTModel(config), config, bank=bank)


def test_knowledge_strategy_lists_passages_in_prompt_and_response(pipeline: InferencePipeline) -> None:
    rendered = pipeline.prompt_for("how much is express shipping", strategy="knowledge")
    assert "$9.99" in rendered.messages[0]["content"]
    r = pipeline.respond("how much is express shipping", strategy="knowledge")
    assert r.passages and r.passages[0].title == "Shipping" and r.passages[0].url == "shipping.md"
    assert r.generated_tokens > 0 and not r.escalate and r.groundedness is not None
    assert pipeline.respond("how much is express shipping", strategy="zero_shot").passages == []


def test_human_request_is_escalated_without_generating_and_stored(pipeline: InferencePipeline) -> None:
    r = pipeline.respond(
        "I want to speak to a person about my refund",
        strategy="knowledge",
        user_id="u1",
        user_context={"name": "Ann", "api_key": "sk-secret"},
    )
    assert r.escalate and r.generated_tokens == 0
    assert r.text == pipeline.config.guardrails.handoff_message
    assert r.escalation is not None and r.escalation["reason"] == "human_request"
    summary = r.escalation["summary"]
    assert summary["questions"] == ["I want to speak to a person about my refund"]
    assert "- name: Ann" in summary["profile"] and "sk-secret" not in str(summary)
    assert pipeline.store is not None
    stored = pipeline.store.history("u1")
    assert [m["content"] for m in stored] == ["I want to speak to a person about my refund", r.text]


def test_escalated_and_answered_requests_in_one_batch(pipeline: InferencePipeline) -> None:
    out = pipeline.generate_batch(
        [
            Request("how much is express shipping", "knowledge"),
            Request("I have a complaint about your service and the driver", "knowledge"),
            Request("can I return items", "combined"),
        ]
    )
    reasons = [r.escalation["reason"] if r.escalation else None for r in out]
    assert reasons[1] == "intent:complaint" and out[1].intent == "complaint" and out[1].generated_tokens == 0
    # the others were generated (the random tiny model may still invent a figure: then its answer
    # is escalated after generation, never before)
    assert reasons[0] in (None, "low_groundedness") and reasons[2] in (None, "low_groundedness")
    assert out[0].generated_tokens > 0 and out[2].generated_tokens > 0 and out[2].passages


def test_streamed_escalation_yields_the_handoff_message(pipeline: InferencePipeline) -> None:
    handle = pipeline.stream("Operator please", strategy="knowledge")
    assert "".join(handle) == pipeline.config.guardrails.handoff_message
    assert handle.response is not None and handle.response.escalate
    live, escalated = pipeline.stream_batch(
        [Request("how much is express shipping", "knowledge"), Request("get me a human agent now")]
    )
    assert "".join(escalated) == pipeline.config.guardrails.handoff_message
    "".join(live)
    assert live.response is not None and not live.response.escalate
    assert live.response.generated_tokens > 0 and live.response.passages


def test_output_guardrails_apply_to_answers(pipeline: InferencePipeline) -> None:
    assert (
        pipeline.guard.check(
            "Mail me at a@b.co about {{Order Number}}.",
            pipeline.guard.assess("where is my parcel"),
            passages=[],
            query="where is my parcel",
            profile={"order_number": "BC-777"},
        ).text
        == "Mail me at [EMAIL] about BC-777."
    )
