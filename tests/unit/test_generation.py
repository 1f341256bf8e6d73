"""Generation settings: the repetition penalty counts generated tokens only by default."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch

from supportkit.config import Config, GenerationConfig
from supportkit.errors import ConfigError
from supportkit.generation import generate_ids, generation_kwargs
from supportkit.models.peft import PEFTModel


def _scores_after(settings: GenerationConfig, tokenizer: Any, ids: list[int], width: int) -> torch.Tensor:
    kwargs = generation_kwargs(settings, tokenizer, prompt_width=width)
    scores = torch.full((1, 16), 2.0)
    if "logits_processor" in kwargs:
        return kwargs["logits_processor"](torch.tensor([ids]), scores)
    from transformers import RepetitionPenaltyLogitsProcessor

    return RepetitionPenaltyLogitsProcessor(kwargs["repetition_penalty"])(torch.tensor([ids]), scores)


def test_penalty_can_skip_the_prompt(smol_tokenizer: Any) -> None:
    # prompt = tokens 3, 4, 5; generated so far = token 7
    ids, width = [3, 4, 5, 7], 3
    assert GenerationConfig().repetition_penalty_scope == "generated"  # the default since #18.6
    generated = _scores_after(
        GenerationConfig(repetition_penalty=2.0, repetition_penalty_scope="generated"),
        smol_tokenizer,
        ids,
        width,
    )
    assert generated[0, 3].item() == generated[0, 5].item() == 2.0  # prompt tokens not penalised
    assert generated[0, 7].item() == 1.0  # the generated token is (2.0 / 2.0)
    everything = _scores_after(
        GenerationConfig(repetition_penalty=2.0, repetition_penalty_scope="all"), smol_tokenizer, ids, width
    )
    assert everything[0, 3].item() == everything[0, 7].item() == 1.0  # transformers' behaviour


def test_scope_is_validated() -> None:
    with pytest.raises(ConfigError, match="repetition_penalty_scope"):
        Config().with_overrides(["generation.repetition_penalty_scope=prompt"]).validate()


def test_first_token_is_never_penalised_in_generated_scope(tiny_config: Config, smol_tokenizer: Any) -> None:
    """At the first step nothing has been generated, so the answer starts as without a penalty,
    however heavily the prompt's tokens would be penalised in transformers' scope."""
    model = PEFTModel(tiny_config.with_overrides(["peft.method=none"]))
    ids = torch.tensor(
        [smol_tokenizer.encode(t)[:4] for t in ("refund my refund now please", "hello hello hello hello")]
    )

    def tokens(**overrides: Any) -> torch.Tensor:
        settings = GenerationConfig(max_new_tokens=4, min_new_tokens=4, **overrides)
        with torch.inference_mode():
            out = model.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                **generation_kwargs(settings, smol_tokenizer, prompt_width=ids.shape[1]),
            )
        return out[:, ids.shape[1] :]

    plain = tokens(repetition_penalty=1.0)
    generated = tokens(repetition_penalty=1e6, repetition_penalty_scope="generated")
    # the unpenalised model starts by repeating a prompt token (so a prompt penalty would show) ...
    assert all(plain[row, 0].item() in ids[row].tolist() for row in range(2))
    # ... and so does the penalised one, since only generated tokens count
    assert torch.equal(generated[:, 0], plain[:, 0])
    # after the first token, a huge penalty forbids repeating any generated token
    assert all(len(set(row.tolist())) == row.numel() for row in generated)
    everything = tokens(repetition_penalty=1e6, repetition_penalty_scope="all")
    assert not set(everything[0].tolist()) & set(ids[0].tolist())  # prompt tokens penalised too
    # and generate_ids (the pipeline's path) passes the prompt width itself
    settings = GenerationConfig(max_new_tokens=2, repetition_penalty_scope="generated")
    out = generate_ids(model.model, smol_tokenizer, ids.tolist(), settings)
    assert len(out) == 2


def test_stop_tokens_are_never_penalised(smol_tokenizer: Any) -> None:
    """The <|im_end|> closing every prompt turn must not be penalised (issue 12.18)."""
    from supportkit.generation.penalty import stop_token_ids

    eos = smol_tokenizer.eos_token_id
    stops = stop_token_ids(smol_tokenizer)
    assert eos in stops and smol_tokenizer.convert_tokens_to_ids("<|im_end|>") in stops
    vocab = max(stops) + 16
    ids = torch.tensor([[eos, 5, 7, eos, 9]])  # the prompt's turns end with eos; 9 was generated
    for scope in ("all", "generated"):
        kwargs = generation_kwargs(
            GenerationConfig(repetition_penalty=1.3, repetition_penalty_scope=scope),
            smol_tokenizer,
            prompt_width=4,
        )
        scores = torch.full((1, vocab), 2.0)
        out = kwargs["logits_processor"](ids, scores.clone())
        assert out[0, eos].item() == 2.0, scope  # untouched
        assert out[0, 9].item() == pytest.approx(2.0 / 1.3), scope  # a generated token is penalised
    all_scope = generation_kwargs(
        GenerationConfig(repetition_penalty=1.3, repetition_penalty_scope="all"),
        smol_tokenizer,
        prompt_width=4,
    )
    assert all_scope["logits_processor"](ids, torch.full((1, vocab), 2.0))[0, 5].item() == pytest.approx(
        2.0 / 1.3
    )


def _tiny(tiny_config: Config) -> PEFTModel:
    return PEFTModel(tiny_config.with_overrides(["peft.method=none"]))


def test_per_row_cancel_and_stop_texts(tiny_config: Config, smol_tokenizer: Any) -> None:
    import threading

    from supportkit.generation import DecodeItem, HFDecoder, QueueSink, Sampling

    model = _tiny(tiny_config)
    prompt = tuple(smol_tokenizer.encode("where is my order please"))
    settings = Sampling(max_new_tokens=12, min_new_tokens=12, repetition_penalty=1.0)
    decoder = HFDecoder(model, batch_size=8)
    [free] = decoder.generate([DecodeItem(prompt, None, settings)])
    assert free.finish_reason == "length" and free.generated_tokens == 12
    stop_text = free.text[len(free.text) // 2 :].strip()[:3]
    assert stop_text.strip()
    cancelled = threading.Event()
    cancelled.set()
    sink = QueueSink(3)
    outs = decoder.generate(
        [
            DecodeItem(prompt, None, settings),
            DecodeItem(prompt, None, replace(settings, stop=(stop_text,))),
            DecodeItem(prompt, None, settings, cancelled),
        ],
        sink,
    )
    assert outs[0].text == free.text  # the other rows do not change a row's answer
    assert outs[1].text == free.text[: free.text.index(stop_text)].strip() and outs[1].finish_reason == "stop"
    assert outs[2].finish_reason == "cancelled" and outs[2].generated_tokens <= 1
    streamed = ["".join(sink.iter_row(i)) for i in range(3)]
    assert streamed[0].strip() == free.text and stop_text not in streamed[1]


def test_seeded_sampling_never_touches_the_global_rng(tiny_config: Config, smol_tokenizer: Any) -> None:
    from supportkit.generation import DecodeItem, HFDecoder, Sampling

    decoder = HFDecoder(_tiny(tiny_config))
    prompt = tuple(smol_tokenizer.encode("hello there"))
    seeded = Sampling(max_new_tokens=8, do_sample=True, seed=5)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = decoder.generate([DecodeItem(prompt, None, seeded)])[0].text
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG is where it was
    # the same seed gives the same answer, also when batched with other rows
    batch = decoder.generate(
        [DecodeItem(prompt, None, replace(seeded, seed=6)), DecodeItem(prompt, None, seeded)]
    )
    assert batch[1].text == first
