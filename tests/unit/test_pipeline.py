"""InferencePipeline logic on the tiny model: API, metadata, errors, store, adapters, batching, streaming."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from supportkit import LoRAModel, PEFTModel
from supportkit.config import Config
from supportkit.errors import ConfigError, UnknownNameError
from supportkit.pipelines.inference import InferencePipeline, RequestError
from supportkit.pipelines.response import Request
from supportkit.pipelines.stream import after_marker as _after_marker
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import HashingEmbedder


def _config(tiny_config: Config, tmp_path: Path, *extra: str) -> Config:
    return tiny_config.with_overrides(
        ["generation.max_new_tokens=6", f"prompt.store_path={tmp_path / 'store.db'}", *extra]
    )


@pytest.fixture
def pipeline(tiny_config: Config, tmp_path: Path) -> InferencePipeline:
    config = _config(tiny_config, tmp_path)
    p = InferencePipeline(PEFTModel(config), config, bank=ExampleBank(embedder=HashingEmbedder()))
    p.add_few_shot_example("I was charged twice", "Duplicate charges are refunded.", intent="billing")
    p.add_few_shot_example("where is my parcel", "Track it under Orders.", intent="shipping")
    return p


def test_generate_response_and_respond_metadata(pipeline: InferencePipeline) -> None:
    text = pipeline.generate_response("charged twice on my card", strategy="few_shot")
    assert isinstance(text, str)
    r = pipeline.respond("charged twice on my card", strategy="few_shot")
    assert r.text == text  # greedy: same request, same answer
    assert r.strategy == "few_shot" and r.role is None and r.prompt_version == "general@1.0"
    assert r.examples[0].question == "I was charged twice" and r.examples[0].similarity > 0
    assert r.prompt_tokens > 20 and 0 < r.generated_tokens <= 6 and r.latency_s > 0
    rc = pipeline.respond("API timeout", strategy="role_context", role="technical_support")
    assert rc.role == "technical_support"


def test_bad_input_gets_clear_errors(pipeline: InferencePipeline) -> None:
    with pytest.raises(RequestError, match="query is empty"):
        pipeline.generate_response("   ")
    with pytest.raises(UnknownNameError, match="unknown prompt strategy 'magic'; known: combined, cot"):
        pipeline.generate_response("hi", strategy="magic")
    with pytest.raises(RequestError, match="user_context must be a mapping"):
        pipeline.generate_response("hi", user_context=["premium"])  # type: ignore[arg-type]
    with pytest.raises(UnknownNameError, match="unknown role 'pilot'"):
        pipeline.generate_response("hi", strategy="role_context", role="pilot")
    with pytest.raises(UnknownNameError, match="unknown role"):
        pipeline.set_role("pilot")


def test_over_long_query_is_cut_with_a_note(tiny_config: Config, tmp_path: Path) -> None:
    # the character limit (guardrails.max_query_chars) is lifted: this is the token budget's cut
    limits = ("prompt.max_prompt_tokens=256", "guardrails.max_query_chars=100000")
    config = _config(tiny_config, tmp_path, *limits)
    pipeline = InferencePipeline(PEFTModel(config), config, bank=ExampleBank(embedder=HashingEmbedder()))
    r = pipeline.respond("my order " + "is very late " * 2000 + "what now?")
    assert r.cut["query_tokens"] > 5000 and r.prompt_tokens <= 256


def test_set_role_is_a_default_and_calls_override(pipeline: InferencePipeline) -> None:
    pipeline.set_role("billing_specialist")
    assert pipeline.respond("refund?", strategy="role_context").role == "billing_specialist"
    assert (
        pipeline.respond("refund?", strategy="role_context", role="sales_representative").role
        == "sales_representative"
    )


def test_profiles_and_history_persist_across_pipelines(tiny_config: Config, tmp_path: Path) -> None:
    config = _config(tiny_config, tmp_path)
    first = InferencePipeline(PEFTModel(config), config, bank=ExampleBank(embedder=HashingEmbedder()))
    first.store.update_profile("u1", {"account_type": "premium", "preferences": "email only"})  # type: ignore[union-attr]
    answer = first.generate_response("my order is late", user_id="u1")
    # A new pipeline (a restart) reads the same store: profile and history reach the prompt.
    second = InferencePipeline(PEFTModel(config), config, bank=ExampleBank(embedder=HashingEmbedder()))
    prompt = second.prompt_for("and now?", strategy="role_context", user_id="u1")
    contents = [m["content"] for m in prompt.messages]
    assert "my order is late" in contents and answer in contents
    assert "- account type: premium" in contents[0] and "- preferences: email only" in contents[0]
    assert [m["role"] for m in second.store.history("u1")] == ["user", "assistant"]  # type: ignore[union-attr]
    # user_context given in the call wins over the stored profile, without a store write.
    prompt = second.prompt_for(
        "x", strategy="role_context", user_id="u1", user_context={"account_type": "basic"}
    )
    assert "- account type: basic" in prompt.messages[0]["content"]


def test_a_failed_request_stores_nothing(pipeline: InferencePipeline) -> None:
    with pytest.raises(ConfigError):
        pipeline.generate_response("hello", user_id="u9", adapter="no_such_adapter")
    assert pipeline.store is not None and pipeline.store.history("u9") == []


def test_named_adapter_per_role(tiny_config: Config, smol_tokenizer: Any, tmp_path: Path) -> None:
    config = _config(
        tiny_config, tmp_path, "prompt.role_adapters.billing_specialist=billing", "prompt.prompt_set=retail"
    )
    torch.manual_seed(0)  # the answers must not depend on the tests run before (global RNG)
    model = LoRAModel(config)
    model.add_adapter("billing")
    # A few training steps barely move the tiny random model (its greedy tokens can stay special
    # tokens that decode to "" with or without the adapter); a far-from-zero LoRA B makes the
    # billing adapter's answer visibly its own.
    with torch.no_grad():
        for name, param in model.model.named_parameters():
            if "lora_B" in name and "billing" in name:
                param.normal_(0.0, 1.0)
    model.set_adapter("default")
    pipeline = InferencePipeline(model, config, bank=ExampleBank(embedder=HashingEmbedder()))
    by_role = pipeline.respond("send my invoice", strategy="role_context", role="billing_specialist")
    explicit = pipeline.respond(
        "send my invoice", strategy="role_context", role="billing_specialist", adapter="billing"
    )
    plain = pipeline.respond(
        "send my invoice", strategy="role_context", role="billing_specialist", adapter="default"
    )
    assert by_role.adapter == "billing" and by_role.text == explicit.text
    assert plain.text != by_role.text
    assert model.active_adapter == "default"  # restored after the request


def test_batch_equals_one_by_one(pipeline: InferencePipeline) -> None:
    queries = [
        "where is my parcel",
        "charged twice",
        "a much longer question about a refund for a lamp",
        "hi",
    ]
    one_by_one = [pipeline.generate_response(q, strategy="few_shot") for q in queries]
    batched = pipeline.generate_batch([Request(q, "few_shot") for q in queries] + [{"query": "hi"}])
    assert [r.text for r in batched[:4]] == one_by_one
    assert batched[4].text == one_by_one[3]


def test_streaming_matches_non_streamed(pipeline: InferencePipeline) -> None:
    queries = ["where is my parcel", "charged twice on my card please help"]
    expected = [pipeline.generate_response(q) for q in queries]
    handles = pipeline.stream_batch([Request(q) for q in queries])
    streamed = ["".join(h).strip() for h in handles]
    assert streamed == expected
    assert [h.response.text for h in handles] == expected  # type: ignore[union-attr]


def test_cot_streaming_holds_back_the_analysis() -> None:
    chunks = ["Problem: a dou", "ble charge.\nSteps: 1. wait\nFinal ", "answer: It will ", "drop off."]
    assert "".join(_after_marker(iter(chunks), "Final answer:")) == "It will drop off."
    assert "".join(_after_marker(iter(["No ", "format here."]), "Final answer:")) == "No format here."


def test_seeded_sampling_is_reproducible(tiny_config: Config, tmp_path: Path) -> None:
    config = _config(
        tiny_config,
        tmp_path,
        "generation.do_sample=true",
        "generation.seed=7",
        "generation.max_new_tokens=12",
    )
    pipeline = InferencePipeline(PEFTModel(config), config, bank=ExampleBank(embedder=HashingEmbedder()))
    first = pipeline.generate_response("hello")
    assert pipeline.generate_response("hello") == first
    assert pipeline.generate_response("hello", seed=8) != first  # a request's own seed


def test_batch_reports_each_requests_latency_and_time_to_first_token(pipeline: InferencePipeline) -> None:
    import time

    answered: list[int] = []
    queries = ["where is my parcel", "charged twice", "a much longer question about a refund for a lamp"]
    began = time.perf_counter()
    responses = pipeline.respond_batch([Request(q) for q in queries], on_answered=answered.append)
    wall = time.perf_counter() - began
    assert sorted(answered) == [0, 1, 2]  # each request reported once, as it finished
    for r in responses:
        assert r.ttft_s is not None and 0 < r.ttft_s <= r.latency_s <= wall
    # the first token comes after one decoding step, well before the last of 6
    assert min(r.ttft_s for r in responses if r.ttft_s is not None) < max(r.latency_s for r in responses)
