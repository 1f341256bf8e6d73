"""``data.max_length`` chosen from the data when unset; a loud warning when an explicit value
truncates more than 1 % of the conversations (real SmolLM2 tokenizer)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from supportkit.config import Config, DataConfig
from supportkit.data.loader import DataLoader, choose_max_length
from supportkit.data.readers import Conversation


def _conversations(lengths: list[int]) -> list[Conversation]:
    return [
        Conversation(
            messages=[
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": " ".join(["word"] * n)},
            ],
            intent="x",
            source=f"data.jsonl:{i + 1}",
        )
        for i, n in enumerate(lengths)
    ]


def test_choose_max_length_rounds_the_99th_percentile_up_and_caps() -> None:
    lengths = [100] * 99 + [1000]
    assert choose_max_length(lengths, cap=None) == 128  # p99 = 109 -> 128
    assert choose_max_length([130] * 10, cap=None) == 192
    assert choose_max_length([10], cap=None) == 64
    assert choose_max_length([5000] * 5, cap=1024) == 1024
    with pytest.raises(ValueError):
        choose_max_length([], cap=None)


def test_unset_max_length_is_chosen_from_the_training_data(
    smol_tokenizer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = Config(data=DataConfig(add_system_prompt=False))
    assert config.data.max_length is None
    loader = DataLoader(config, smol_tokenizer)
    conversations = _conversations([20] * 150 + [400])
    with caplog.at_level(logging.INFO, logger="supportkit.data.loader"):
        examples, fit = loader.tokenize_report(conversations)
    chosen = config.data.max_length
    lengths = loader.token_lengths(conversations)
    assert chosen is not None and chosen % 64 == 0 and chosen < max(lengths)
    assert sum(n <= chosen for n in lengths) / len(lengths) >= 0.99
    assert "data.max_length not set: using" in caplog.text
    assert "!!!" not in caplog.text  # 1 of 151 cut: under 1 %
    assert fit.cut == 1 and len(examples) == 151


def test_the_cap_bounds_the_choice(smol_tokenizer: Any) -> None:
    config = Config(data=DataConfig(add_system_prompt=False, max_length_cap=64))
    DataLoader(config, smol_tokenizer).tokenize_report(_conversations([200] * 5))
    assert config.data.max_length == 64


def test_explicit_max_length_cutting_over_one_percent_warns_loudly(
    smol_tokenizer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = Config(data=DataConfig(add_system_prompt=False, max_length=64))
    conversations = _conversations([20] * 90 + [120] * 10)
    with caplog.at_level(logging.INFO, logger="supportkit.data.loader"):
        _, fit = DataLoader(config, smol_tokenizer).tokenize_report(conversations)
    assert fit.cut == 10
    loud = [r for r in caplog.records if r.levelno == logging.WARNING and "!!!" in r.message]
    assert loud and "10 % of the training data is truncated" in loud[0].message
    assert "Set data.max_length=192" in loud[0].message


def test_explicit_max_length_cutting_under_one_percent_is_not_loud(
    smol_tokenizer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = Config(data=DataConfig(add_system_prompt=False, max_length=64))
    with caplog.at_level(logging.INFO, logger="supportkit.data.loader"):
        DataLoader(config, smol_tokenizer).tokenize_report(_conversations([20] * 200 + [120]))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert (
        "data.max_length=64: 0 of 201 conversations lost early turns, 1 had the final answer cut"
        in caplog.text
    )
