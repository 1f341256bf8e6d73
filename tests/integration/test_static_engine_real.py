"""The ``static`` engine on the real bundled SmolLM2: greedy tokens equal transformers' ``generate``
for mixed-length support prompts, with a row joining mid-decode and a cancelled row, and with a
LoRA adapter on some rows."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch

from supportkit.config import Config
from supportkit.generation import DecodeItem, HFDecoder, Sampling, StaticDecoder
from supportkit.models.peft import PEFTModel

pytestmark = pytest.mark.slow

QUESTIONS = [
    "Where is my order?",
    "How do I reset my password if I no longer have access to my email address?",
    "Can I return shoes?",
]


def test_real_model_greedy_parity_with_joins_cancel_and_lora(smol_tokenizer: Any) -> None:
    model = PEFTModel(Config().with_overrides(["peft.method=lora"]))
    model.add_adapter("billing")
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in model.model.named_parameters():
            if "lora_B" in name and ".billing" in name:
                param.normal_(0, 0.02)
    prompts = [
        tuple(
            smol_tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True)
        )
        for q in QUESTIONS
    ]
    s = Sampling(max_new_tokens=24, repetition_penalty=1.1)
    cancel = threading.Event()
    items = [
        DecodeItem(prompts[0], None, s),
        DecodeItem(prompts[1], "billing", s),
        DecodeItem(prompts[2], None, s),
        DecodeItem(prompts[1], None, s, cancel),
    ]
    hf = HFDecoder(model)
    ref = [hf.generate([item])[0] for item in items[:3]]
    engine = StaticDecoder(model, batch_size=4)
    futures = [engine.add(items[0]), engine.add(items[3])]
    for _ in range(3):
        engine.step()
    futures += [engine.add(items[1]), engine.add(items[2])]  # join mid-decode
    engine.step()
    cancel.set()
    while engine.busy:
        engine.step()
    out = [f.result() for f in futures]
    assert out[1].finish_reason == "cancelled" and out[1].generated_tokens < 24
    assert [out[0].token_ids, out[2].token_ids, out[3].token_ids] == [r.token_ids for r in ref]
