"""Bottleneck adapters (AdapterHub): identity at init, variants, safetensors without head, fusion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from supportkit import AdapterModel
from supportkit.config import Config
from supportkit.models.loading import load_base
from tests.helpers import chat_batch, logits, train_steps


@pytest.mark.parametrize("variant", ["pfeiffer", "houlsby", "parallel"])
def test_untrained_adapter_is_an_exact_identity(
    tiny_config: Config, smol_tokenizer: Any, variant: str
) -> None:
    batch = chat_batch(smol_tokenizer, ["Hello there, how can I help?"])
    base = load_base(tiny_config.model.name_or_path)
    reference = logits(base.model, batch)
    model = AdapterModel(tiny_config.with_overrides([f"adapter.adapter_type={variant}"]))
    assert torch.equal(logits(model, batch), reference)


def test_generation_uses_the_kv_cache_correctly(tiny_config: Config, smol_tokenizer: Any) -> None:
    """adapters 1.3 drops the KV cache on transformers 4.57 unless patched (adapter-hub/adapters#824)."""
    from supportkit.models.tokenizer import encode_chat

    model = AdapterModel(tiny_config)
    ids = torch.tensor([encode_chat(smol_tokenizer, [{"role": "user", "content": "Where is my order?"}])])
    with torch.inference_mode():
        first = model.model(ids, use_cache=True)
        nxt = first.logits[:, -1:].argmax(-1)
        step = model.model(nxt, past_key_values=first.past_key_values, use_cache=True).logits[:, -1]
        full = model.model(torch.cat([ids, nxt], 1)).logits[:, -1]
    assert torch.allclose(step, full, atol=1e-4)


def test_saved_adapter_is_safetensors_without_head(
    tiny_config: Config, smol_tokenizer: Any, tmp_path: Path
) -> None:
    model = AdapterModel(tiny_config)
    batch = chat_batch(smol_tokenizer, ["Yes."])
    train_steps(model, batch, steps=2)
    path = model.save_model(tmp_path / "pfeiffer")
    names = sorted(p.name for p in path.iterdir())
    assert "adapter.safetensors" in names and "adapter_config.json" in names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth"))], names
    assert not [n for n in names if "head" in n], names
    again = AdapterModel.from_saved(path)
    assert torch.allclose(logits(again, batch), logits(model, batch), atol=1e-6)


def test_adapter_fusion_trains_only_the_fusion_layer(
    tiny_config: Config, smol_tokenizer: Any, tmp_path: Path
) -> None:
    model = AdapterModel(tiny_config, adapter_name="billing")
    model.add_adapter("shipping")
    billing = chat_batch(smol_tokenizer, ["Your invoice is attached."], question="Invoice please")
    shipping = chat_batch(smol_tokenizer, ["It ships tomorrow."], question="When will it ship?")
    model.set_adapter("billing")
    train_steps(model, billing, steps=3)
    model.set_adapter("shipping")
    train_steps(model, shipping, steps=3)
    single = logits(model, billing)

    model.add_fusion(["billing", "shipping"])
    model.train_fusion(["billing", "shipping"])
    trainable = {n for n, p in model.model.named_parameters() if p.requires_grad}
    assert trainable and all("adapter_fusion_layer" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in model.model.named_parameters()}
    both = chat_batch(smol_tokenizer, ["Your invoice is attached.", "It ships tomorrow."])
    train_steps(model, both, steps=2, lr=5e-2)
    after = dict(model.model.named_parameters())
    assert all(not torch.equal(before[n], after[n]) for n in trainable)
    assert all(torch.equal(before[n], after[n]) for n in before if n not in trainable)
    assert not torch.allclose(logits(model, billing), single, atol=1e-5)
    path = model.save_fusion(tmp_path / "fusion", ["billing", "shipping"])
    files = sorted(p.name for p in path.iterdir())
    assert any(f.endswith(".safetensors") for f in files) and not any(f.endswith(".bin") for f in files)
