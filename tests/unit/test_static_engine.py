"""The ``static`` step engine decodes exactly what transformers' ``generate`` does (greedy), with rows
joining mid-decode, cancelled rows, stop texts, mixed LoRA adapters, and refuses other architectures."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
import torch

from supportkit.config import Config
from supportkit.errors import ConfigError
from supportkit.generation import DecodeItem, Generated, HFDecoder, QueueSink, Sampling, StaticDecoder
from supportkit.models.peft import PEFTModel

QUESTIONS = [
    "Where is my order?",
    "I want to cancel my subscription because the price went up again last month",
    "hi",
    "Can I return shoes that I bought online in a store, and how long do refunds take?",
]


def _prompts(tokenizer: Any) -> list[tuple[int, ...]]:
    return [
        tuple(tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True))
        for q in QUESTIONS
    ]


def _reference(model: Any, items: list[DecodeItem]) -> list[Generated]:
    """transformers' generate, one row at a time (no padding)."""
    decoder = HFDecoder(model)
    return [decoder.generate([item])[0] for item in items]


@pytest.fixture(scope="module")
def base_model(tiny_model_dir: Any) -> PEFTModel:
    return PEFTModel(Config().with_overrides([f"model.name_or_path={tiny_model_dir}", "peft.method=none"]))


@pytest.mark.parametrize("scope", ["generated", "all"])
def test_greedy_batch_equals_generate(base_model: PEFTModel, smol_tokenizer: Any, scope: str) -> None:
    s = Sampling(max_new_tokens=10, repetition_penalty=1.3, repetition_penalty_scope=scope)
    items = [DecodeItem(p, None, s) for p in _prompts(smol_tokenizer)]
    ref = _reference(base_model, items)
    got = StaticDecoder(base_model, batch_size=4).generate(items)
    assert [g.token_ids for g in got] == [r.token_ids for r in ref]
    assert [g.text for g in got] == [r.text for r in ref]
    assert [g.finish_reason for g in got] == [r.finish_reason for r in ref]


def test_rows_join_mid_decode_and_a_cancelled_row_leaves(base_model: PEFTModel, smol_tokenizer: Any) -> None:
    s = Sampling(max_new_tokens=12, min_new_tokens=12, repetition_penalty=1.1)
    prompts = _prompts(smol_tokenizer)
    cancel = threading.Event()
    items = [
        DecodeItem(prompts[0], None, s),
        DecodeItem(prompts[1], None, s, cancel),
        DecodeItem(prompts[2], None, s),
        DecodeItem(prompts[3], None, replace(s, max_new_tokens=5, min_new_tokens=0)),
    ]
    ref = _reference(base_model, items)
    engine = StaticDecoder(base_model, batch_size=3)  # fewer slots than rows: the last one waits
    sink = QueueSink(4)
    futures = [engine.add(items[0], sink, 0), engine.add(items[1], sink, 1)]
    for _ in range(4):
        engine.step()
    assert engine.running == 2
    futures += [engine.add(items[2], sink, 2), engine.add(items[3], sink, 3)]  # join at a step boundary
    engine.step()
    assert engine.running == 3 and engine.waiting == 1
    cancel.set()
    engine.step()  # the cancelled row leaves; the waiting one takes its slot at the next step
    assert futures[1].done() and engine.running == 2
    while engine.busy:
        engine.step()
    out = [f.result() for f in futures]
    assert out[1].finish_reason == "cancelled"
    assert (
        0 < out[1].generated_tokens < 12 and ref[1].token_ids[: out[1].generated_tokens] == out[1].token_ids
    )
    for i in (0, 2, 3):
        assert out[i].token_ids == ref[i].token_ids, i
        assert "".join(sink.iter_row(i)).strip() == ref[i].text


def test_stop_texts_end_a_row_and_are_never_streamed(base_model: PEFTModel, smol_tokenizer: Any) -> None:
    prompt = tuple(smol_tokenizer.encode("where is my order please"))
    s = Sampling(max_new_tokens=12, min_new_tokens=12, repetition_penalty=1.0)
    [free] = StaticDecoder(base_model).generate([DecodeItem(prompt, None, s)])
    stop_text = free.text[len(free.text) // 2 :].strip()[:3]
    assert stop_text.strip()
    items = [DecodeItem(prompt, None, replace(s, stop=(stop_text,))), DecodeItem(prompt, None, s)]
    sink = QueueSink(2)
    outs = StaticDecoder(base_model).generate(items, sink)
    ref = HFDecoder(base_model).generate(items)
    assert outs[0].text == ref[0].text == free.text[: free.text.index(stop_text)].strip()
    assert outs[0].finish_reason == "stop" and outs[1].text == free.text
    assert stop_text not in "".join(sink.iter_row(0))


def test_seeded_sampling_is_reproducible_and_leaves_the_global_rng(
    base_model: PEFTModel, smol_tokenizer: Any
) -> None:
    prompt = _prompts(smol_tokenizer)[0]
    seeded = Sampling(max_new_tokens=8, do_sample=True, seed=5, temperature=1.5, top_p=0.95)
    engine = StaticDecoder(base_model)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = engine.generate([DecodeItem(prompt, None, seeded)])[0]
    assert torch.equal(torch.get_rng_state(), before)
    batch = engine.generate(
        [DecodeItem(prompt, None, replace(seeded, seed=6)), DecodeItem(prompt, None, seeded)]
    )
    assert batch[1].token_ids == first.token_ids


def test_mixed_lora_adapters_in_one_batch(tiny_model_dir: Any, smol_tokenizer: Any) -> None:
    model = PEFTModel(Config().with_overrides([f"model.name_or_path={tiny_model_dir}", "peft.method=lora"]))
    model.add_adapter("billing")
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in model.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)  # adapters that change the answer
    prompts = _prompts(smol_tokenizer)
    s = Sampling(max_new_tokens=8, repetition_penalty=1.0)
    items = [DecodeItem(prompts[i], name, s) for i, name in enumerate([None, "billing", "billing", None])]
    ref = _reference(model, items)
    base_answer = _reference(model, [replace(items[1], adapter=None)])[0]
    assert base_answer.token_ids != ref[1].token_ids  # the adapter matters, so the check can fail
    got = StaticDecoder(model, batch_size=4).generate(items)
    assert [g.token_ids for g in got] == [r.token_ids for r in ref]
    with pytest.raises(ConfigError, match="shipping"):
        StaticDecoder(model).generate([DecodeItem(prompts[0], "shipping", s)])


def test_other_architectures_get_a_clear_error(smol_tokenizer: Any) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    class Wrapper:
        model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=len(smol_tokenizer)))
        tokenizer = smol_tokenizer

    with pytest.raises(ConfigError, match=r"generation\.engine: hf"):
        StaticDecoder(Wrapper()).generate([DecodeItem((1, 2, 3), None, Sampling(max_new_tokens=2))])


def test_an_added_adapter_decodes_without_dropout(tiny_model_dir: Any) -> None:
    """Regression: ``add_adapter`` left the new adapter's dropout in training mode, so answers with
    a department adapter changed from call to call (both engines)."""
    model = PEFTModel(Config().with_overrides([f"model.name_or_path={tiny_model_dir}", "peft.method=lora"]))
    model.add_adapter("billing")
    assert not [name for name, m in model.model.named_modules() if m.training]


def test_bottleneck_adapters_fall_back_to_hf_for_serve_and_chat(tiny_model_dir: Any) -> None:
    """The adapters library changes the layers' own forward, which the static engine bypasses: it
    refuses such a model, and ``serve``/``chat`` fall back to ``hf`` rather than answer without the
    adapter."""
    from supportkit.generation.slots import unsupported
    from supportkit.recipes.assistant import choose_engine

    config = Config().with_overrides([f"model.name_or_path={tiny_model_dir}", "peft.method=bottleneck"])
    model = PEFTModel(config)
    assert unsupported(model.model) is not None
    with pytest.raises(ConfigError, match="bottleneck"):
        StaticDecoder(model).generate([DecodeItem((1, 2, 3), None, Sampling(max_new_tokens=2))])
    choose_engine(config, model, "static")
    assert config.generation.engine == "hf"
    lora = Config().with_overrides([f"model.name_or_path={tiny_model_dir}", "peft.method=lora"])
    choose_engine(lora, PEFTModel(lora), "static")
    assert lora.generation.engine == "static"
