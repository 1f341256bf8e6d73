"""Adaptation on the real bundled SmolLM2-135M-Instruct."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supportkit import AdapterModel, Config, LoRAModel
from supportkit.config import GenerationConfig

pytestmark = pytest.mark.slow
QUESTION = "How do I return a damaged item?"


def test_overview_example_1_model_part(tmp_path: Path) -> None:
    config = Config()
    model = LoRAModel(config)
    trainable, total = model.trainable_parameters()
    # r x (d_in + d_out) summed over q,k,v,o,gate,up,down (576/192/1536 dims) x 30 layers.
    assert trainable == 2_442_240
    assert round(100 * trainable / total, 1) == 1.8
    saved = model.save_model(tmp_path / "my_model")
    assert (saved / "adapter_model.safetensors").stat().st_size < 11_000_000


def test_pfeiffer_share_and_untrained_adapter_keeps_generation(real_base: Any) -> None:
    from supportkit.generation import generate_chat

    settings = GenerationConfig(max_new_tokens=40)
    messages = [{"role": "user", "content": QUESTION}]
    reference = generate_chat(real_base.model, real_base.tokenizer, messages, settings).text
    model = AdapterModel(Config())
    assert model.trainable_parameters()[0] == 1_262_520  # 30 x (576x36+36 + 36x576+576)
    assert model.generate(QUESTION, settings) == reference
    assert len(reference.split()) > 5
