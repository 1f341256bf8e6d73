"""Grounded answers and safeguards with the bundled SmolLM2, MiniLM and the project's knowledge base."""

from __future__ import annotations

from pathlib import Path

import pytest

from supportkit import PEFTModel
from supportkit.config import Config
from supportkit.data.project import ESCALATION_EVAL, RETRIEVAL_EVAL, use_example_store
from supportkit.evaluation.grounding import escalation_scores, read_labelled, retrieval_hit_rate
from supportkit.pipelines.inference import InferencePipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> InferencePipeline:
    config = use_example_store(
        Config().with_overrides(
            [
                "peft.method=none",
                "generation.max_new_tokens=48",
                f"knowledge.index_dir={tmp_path_factory.mktemp('kb-index')}",
            ]
        )
    )
    return InferencePipeline(PEFTModel(config), config)


def test_return_question_is_answered_from_the_returns_article_with_a_citation(
    pipeline: InferencePipeline,
) -> None:
    r = pipeline.respond("How long do I have to return an item?", strategy="knowledge")
    assert not r.escalate
    assert r.passages[0].title == "Returns policy" and r.citations[0] == "Returns policy"
    assert "30 days" in r.text and "Source: Returns policy" in r.text
    assert "{{" not in r.text


def test_the_default_strategy_answers_from_the_knowledge_base(pipeline: InferencePipeline) -> None:
    """Issue 17: with a knowledge base and no strategy named, the answer is the knowledge base's
    (zero-shot, the old default, answered "10 days" unchecked)."""
    r = pipeline.respond("How long do I have to return an item?")
    assert r.strategy == "knowledge" and not r.escalate
    assert "30 days" in r.text and "Source: Returns policy" in r.text and "10 days" not in r.text


def test_request_for_a_person_is_escalated_with_a_summary(pipeline: InferencePipeline) -> None:
    r = pipeline.respond(
        "I want to speak to a person", strategy="combined", user_context={"name": "Jo", "tier": "Plus"}
    )
    assert r.escalate and r.generated_tokens == 0
    assert r.escalation is not None and r.escalation["reason"] == "human_request"
    assert r.escalation["summary"]["questions"] == ["I want to speak to a person"]
    assert "- tier: Plus" in r.escalation["summary"]["profile"]


def test_out_of_scope_question_is_not_answered(pipeline: InferencePipeline) -> None:
    r = pipeline.respond("What's the weather in Paris tomorrow?", strategy="knowledge")
    assert r.escalate and r.escalation is not None and r.escalation["reason"] == "no_match"


def test_retrieval_hit_at_3_meets_the_target(pipeline: InferencePipeline) -> None:
    assert pipeline.knowledge is not None
    score = retrieval_hit_rate(pipeline.knowledge, read_labelled(RETRIEVAL_EVAL, ["question", "article"]))
    assert score.questions >= 60 and score.hit_at_k >= 0.9, score.misses


def test_escalation_precision_and_recall_meet_the_target(pipeline: InferencePipeline) -> None:
    score = escalation_scores(pipeline.guard, read_labelled(ESCALATION_EVAL, ["query", "escalate"]))
    assert score.requests >= 60
    assert score.precision >= 0.9 and score.recall >= 0.9, score.errors


def test_project_paths_exist() -> None:
    assert Path(RETRIEVAL_EVAL).is_file() and Path(ESCALATION_EVAL).is_file()
