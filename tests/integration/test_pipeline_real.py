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
    config = Config().with_overrides(
        [
            "generation.max_new_tokens=24",
            f"prompt.few_shot_file={BANK}",
            "prompt.prompt_set=retail",  # the example store's bank, with its persona
            "prompt.strategy=zero_shot",
        ]
    )
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
    batched = [r.text for r in real_pipeline.respond_batch([Request(q) for q in queries])]
    assert batched == sequential
    assert all(len(t.split()) >= 3 for t in batched)


def test_streamed_text_equals_non_streamed(real_pipeline: InferencePipeline) -> None:
    queries = ["How long does shipping take?", "I want to cancel my order."]
    expected = [real_pipeline.generate_response(q) for q in queries]
    handles = real_pipeline.stream_batch([Request(q) for q in queries])
    assert ["".join(h).strip() for h in handles] == expected


def test_every_strategy_with_and_without_adapter() -> None:
    """Each strategy's prompt carries what makes it that strategy, and each answers something."""
    query, context = "My package arrived damaged.", {"account_type": "premium"}
    for method in ("none", "lora"):
        config = Config().with_overrides(
            [
                "generation.max_new_tokens=20",
                f"prompt.few_shot_file={BANK}",
                "prompt.prompt_set=retail",
                f"peft.method={method}",
            ]
        )
        pipeline = InferencePipeline(PEFTModel(config), config)
        ps = pipeline.prompt_set
        prompts = {}
        for strategy in ("zero_shot", "few_shot", "cot", "role_context", "combined"):
            r = pipeline.respond(query, strategy, user_context=context)
            assert r.text.strip(), (method, strategy)
            assert r.strategy == strategy and r.prompt_version == "retail@1.1"
            messages = pipeline.prompt_for(query, strategy, user_context=context).messages
            prompts[strategy] = (r, messages, "\n".join(m["content"] for m in messages))
        r, messages, text = prompts["zero_shot"]
        assert [m["role"] for m in messages] == ["system", "user"] and not r.examples
        assert "account type" not in text and ps.cot_instruction not in text
        r, messages, text = prompts["few_shot"]
        assert len(r.examples) >= 2 and all(e.question in text and e.answer in text for e in r.examples)
        assert [m["role"] for m in messages].count("assistant") == len(r.examples)
        assert ps.cot_instruction not in text and "account type" not in text
        r, messages, text = prompts["cot"]
        assert ps.cot_instruction in text and not r.examples
        r, messages, text = prompts["role_context"]
        assert "- account type: premium" in messages[0]["content"] and not r.examples
        assert ps.cot_instruction not in text
        r, messages, text = prompts["combined"]
        assert "- account type: premium" in messages[0]["content"] and ps.cot_instruction in text
        assert r.examples and all(e.question in text for e in r.examples)


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


def test_repetition_penalty_never_keeps_the_model_past_its_end(real_base: Any) -> None:
    """Penalty 1.3 on "Hi": the end-of-turn token closing every prompt turn is not penalised, so
    the model ends its short greeting by itself (issue 12.18: 29 tokens of invented content before)."""
    from supportkit.config import GenerationConfig
    from supportkit.generation import generate_chat

    for scope in ("all", "generated"):
        settings = GenerationConfig(max_new_tokens=48, repetition_penalty=1.3, repetition_penalty_scope=scope)
        out = generate_chat(
            real_base.model, real_base.tokenizer, [{"role": "user", "content": "Hi"}], settings
        )
        assert out.finish_reason == "stop" and out.generated_tokens <= 15, (scope, out)
