"""LoRA specifics: verified merge, named adapters, plain-peft compatibility."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from supportkit import LoRAModel
from supportkit.config import Config
from supportkit.errors import ConfigError
from supportkit.models.peft import MergeError, PEFTModel
from tests.helpers import chat_batch, logits, train_steps


@pytest.fixture
def trained_lora(tiny_config: Config, smol_tokenizer: Any) -> tuple[LoRAModel, dict[str, Any]]:
    model = LoRAModel(tiny_config)
    batch = chat_batch(smol_tokenizer, ["Your parcel left our warehouse today.", "Refunds take 5 days."])
    train_steps(model, batch, steps=3)
    return model, batch


def _lora_layers(model: Any) -> list[Any]:
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def test_merge_keeps_outputs_and_leaves_a_plain_model(trained_lora) -> None:  # type: ignore[no-untyped-def]
    model, batch = trained_lora
    before = logits(model, batch)
    model.merge()
    after = logits(model, batch)
    assert model.merged
    assert _lora_layers(model.model) == []  # adapter layers are gone: zero-overhead inference
    assert (before - after).abs().max().item() <= 1e-3
    assert torch.equal(before.argmax(-1), after.argmax(-1))
    with pytest.raises(ConfigError, match="merged into the base"):
        model.set_adapter("default")


def test_failed_merge_check_raises_and_leaves_model_unmerged(trained_lora) -> None:  # type: ignore[no-untyped-def]
    model, batch = trained_lora
    before = logits(model, batch)
    # atol=0 demands bit-identical logits, which a real fp32 merge never gives.
    with pytest.raises(MergeError, match="left unmerged"):
        model.merge(atol=0.0)
    assert not model.merged
    layers = _lora_layers(model.model)
    assert layers and not any(layer.merged for layer in layers)
    assert torch.equal(logits(model, batch), before)


def test_merge_without_unload_can_be_undone(trained_lora) -> None:  # type: ignore[no-untyped-def]
    model, batch = trained_lora
    before = logits(model, batch)
    model.merge(unload=False)
    assert all(layer.merged for layer in _lora_layers(model.model))
    model.unmerge()
    assert not any(layer.merged for layer in _lora_layers(model.model))
    assert (logits(model, batch) - before).abs().max().item() <= 1e-4


def test_save_merged_is_a_plain_transformers_model(trained_lora, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM

    model, batch = trained_lora
    model.merge()
    path = model.save_merged(tmp_path / "merged")
    plain = AutoModelForCausalLM.from_pretrained(path)
    assert torch.allclose(logits(plain, batch), logits(model, batch), atol=1e-5)


@pytest.mark.parametrize("method", ["prefix_tuning", "prompt_tuning", "bottleneck", "full"])
def test_methods_that_cannot_merge_say_which_can(tiny_config: Config, method: str) -> None:
    tiny_config.peft.method = method
    model = PEFTModel(tiny_config)
    with pytest.raises(
        ConfigError,
        match=rf"'{method}' cannot be merged; mergeable methods: dora, ia3, loha, lokr, lora",
    ):
        model.merge()


def test_named_adapters_switch_at_run_time(tiny_config: Config, smol_tokenizer: Any, tmp_path: Path) -> None:
    model = LoRAModel(tiny_config, adapter_name="billing")
    model.add_adapter("shipping")
    assert model.adapter_names == ["billing", "shipping"]
    billing = chat_batch(smol_tokenizer, ["Your invoice is attached."], question="Send my invoice")
    shipping = chat_batch(smol_tokenizer, ["It ships tomorrow by courier."], question="When does it ship?")
    model.set_adapter("billing")
    train_steps(model, billing, steps=3)
    model.set_adapter("shipping")
    train_steps(model, shipping, steps=3)
    probe = chat_batch(smol_tokenizer, ["ok"])
    model.set_adapter("billing")
    out_billing = logits(model, probe)
    model.set_adapter("shipping")
    out_shipping = logits(model, probe)
    assert not torch.allclose(out_billing, out_shipping, atol=1e-4)
    # Save one, load it back under a new name on a fresh model, and it reproduces that adapter.
    model.save_model(tmp_path / "billing", adapter_name="billing")
    fresh = LoRAModel(Config.from_dict(tiny_config.to_dict()))
    fresh.load_adapter(tmp_path / "billing", "billing")
    assert fresh.active_adapter == "billing" and set(fresh.adapter_names) == {"default", "billing"}
    assert torch.allclose(logits(fresh, probe), out_billing, atol=1e-6)
    fresh.delete_adapter("default")
    assert fresh.adapter_names == ["billing"]
    with pytest.raises(ConfigError, match="no adapter named 'nope'"):
        fresh.set_adapter("nope")


def test_saved_lora_loads_with_plain_peft(trained_lora, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model, batch = trained_lora
    path = model.save_model(tmp_path / "lora")
    config = json.loads((path / "adapter_config.json").read_text())
    base = AutoModelForCausalLM.from_pretrained(config["base_model_name_or_path"])
    plain = PeftModel.from_pretrained(base, path).eval()
    assert torch.allclose(logits(plain, batch), logits(model, batch), atol=1e-6)


def test_dora_switch_in_lora_config(tiny_config: Config) -> None:
    tiny_config.lora.use_dora = True
    model = LoRAModel(tiny_config)
    assert model.method == "dora"
    assert any("lora_magnitude_vector" in n for n, _ in model.model.named_parameters())
