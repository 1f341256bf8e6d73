"""Generation settings: the repetition penalty counts generated tokens only by default."""

from __future__ import annotations

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
