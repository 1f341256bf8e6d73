"""The pipeline on the real SmolLM2 and MiniLM: selection by meaning, batching, streaming, the overview."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from supportkit import Config, PEFTModel
from supportkit.pipelines.inference import InferencePipeline
from supportkit.pipelines.response import Request

pytestmark = pytest.mark.slow
BANK = Path(__file__).resolve().parents[2] / "data" / "few_shot_examples.jsonl"


@pytest.fixture(scope="module")
def real_pipeline() -> InferencePipeline:
    config = Config().with_overrides(["generation.max_new_tokens=24", f"prompt.few_shot_file={BANK}"])
    return InferencePipeline(PEFTModel(config.with_overrides(["peft.method=none"])), config)


def test_billing_question_selects_billing_examples(real_pipeline: InferencePipeline) -> None:
    prompt = real_pipeline.prompt_for(
        "There are two identical payments for one purchase on my credit card statement", "few_shot"
    )
    response = real_pipeline.respond(
        "There are two identical payments for one purchase on my credit card statement", "few_shot"
    )
    intents = [e.intent for e in response.examples]
    assert intents[0] == "billing_issue" and intents.count("billing_issue") >= 2, intents
    assert response.examples[0].question in [m["content"] for m in prompt.messages]


def test_batched_greedy_equals_one_by_one(real_pipeline: InferencePipeline) -> None:
    queries = [
        "Where is my order?",
        "How do I return shoes that don't fit?",
        "My card was declined, what should I do?",
        "Can I change my delivery address after ordering something yesterday evening?",
    ]
    sequential = [real_pipeline.generate_response(q) for q in queries]
    batched = [r.text for r in real_pipeline.generate_batch([Request(q) for q in queries])]
    assert batched == sequential
    assert all(len(t.split()) >= 3 for t in batched)


def test_streamed_text_equals_non_streamed(real_pipeline: InferencePipeline) -> None:
    queries = ["How long does shipping take?", "I want to cancel my order."]
    expected = [real_pipeline.generate_response(q) for q in queries]
    handles = real_pipeline.stream_batch([Request(q) for q in queries])
    assert ["".join(h).strip() for h in handles] == expected


def test_every_strategy_with_and_without_adapter() -> None:
    for method in ("none", "lora"):
        config = Config().with_overrides(
            ["generation.max_new_tokens=20", f"prompt.few_shot_file={BANK}", f"peft.method={method}"]
        )
        pipeline = InferencePipeline(PEFTModel(config), config)
        for strategy in ("zero_shot", "few_shot", "cot", "role_context", "combined"):
            r = pipeline.respond(
                "My package arrived damaged.", strategy, user_context={"account_type": "premium"}
            )
            assert r.text.strip(), (method, strategy)
            assert r.strategy == strategy and r.prompt_version == "retail@1.1"


OVERVIEW_EXAMPLES = textwrap.dedent(
    """
    from supportkit import Config
    from supportkit import LoRAModel
    from supportkit import InferencePipeline

    config = Config()
    model = LoRAModel(config)
    pipeline = InferencePipeline(model, config)

    # Add examples
    pipeline.add_few_shot_example(
        "How do I change my password?",
        "Go to Settings > Security > Change Password"
    )

    # Generate response
    response = pipeline.generate_response(
        "How do I reset my account?",
        strategy="few_shot"
    )
    print(response)
    response = pipeline.generate_response(
        "My account is locked and I can't reset password",
        strategy="cot"
    )
    print(response)
    pipeline.set_role("technical_support")
    user_context = {
        "account_type": "premium",
        "join_date": "2023-01-15",
        "previous_issues": "authentication failures"
    }

    response = pipeline.generate_response(
        "API connection timeout",
        strategy="role_context",
        user_context=user_context
    )
    response = pipeline.generate_response(
        "Complex technical issue",
        strategy="combined"  # Uses all strategies together
    )
    """
)


def test_overview_examples_1_to_4_run_with_only_imports_changed(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(OVERVIEW_EXAMPLES, "overview_examples", "exec"), namespace)  # our own literal code
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) >= 2 and isinstance(namespace["response"], str) and namespace["response"].strip()
