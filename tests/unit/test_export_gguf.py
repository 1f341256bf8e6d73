"""``supportkit export --format gguf|gguf-lora``: llama.cpp files, read back by independent readers.

The q/k permutation (HF -> llama.cpp rope layout) is checked against transformers' own GGUF reader
(``from_pretrained(gguf_file=...)``, ``LlamaTensorProcessor``), not only against this project's
un-permutation, and on adapters on q_proj/k_proj only, where a missing permutation shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from supportkit.config import Config
from supportkit.errors import ExportError
from supportkit.models.peft import PEFTModel
from supportkit.models.tokenizer import encode_chat
from supportkit.recipes.export import CHECK_PROMPTS, export_adapter
from tests.unit.test_export import _save_adapter

QK = ["lora.target_modules=[q_proj,k_proj]", "lora.r=4"]
ALL_LINEAR: list[str] = ["lora.r=4"]


def _raw(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metadata and tensors as stored (no un-permutation), read with gguf's own reader."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    fields = {
        k: reader.fields[k].contents()
        for k in ("general.type", "general.architecture", "adapter.type", "adapter.lora.alpha")
        if k in reader.fields
    }
    return fields, {t.name: np.array(t.data).reshape(t.data.shape) for t in reader.tensors}


def _chat_ids(tokenizer: Any) -> torch.Tensor:
    return torch.tensor([encode_chat(tokenizer, list(CHECK_PROMPTS[1]))])


@pytest.mark.parametrize(
    "overrides",
    [pytest.param(QK, id="lora-q-k"), pytest.param(ALL_LINEAR, id="lora-all-linear", marks=pytest.mark.slow)],
)
def test_gguf_merged_model_loads_in_transformers_gguf_reader_with_the_adapter_models_logits(
    tiny_config: Config, tmp_path: Path, smol_tokenizer: Any, overrides: list[str]
) -> None:
    from transformers import AutoModelForCausalLM

    adapter = _save_adapter(tiny_config, tmp_path / "adapter", overrides)
    out = tmp_path / "gguf"
    result = export_adapter(adapter, out, fmt="gguf", gguf_dtype="f32", name="support")
    assert result.files == ["support.gguf"]
    assert [c.passed for c in result.checks] == [True]
    assert result.command == f"llama-server -m {out.resolve() / 'support.gguf'} --alias support"
    # transformers' GGUF loader un-permutes q/k with its own code: the logits are the adapter model's
    loaded = AutoModelForCausalLM.from_pretrained(str(out), gguf_file="support.gguf", dtype=torch.float32)
    ids = _chat_ids(smol_tokenizer)
    with torch.inference_mode():
        expected = PEFTModel.from_saved(adapter).model(input_ids=ids).logits
        assert (loaded.eval()(input_ids=ids).logits - expected).abs().max().item() <= 1e-4
    import gguf

    fields = gguf.GGUFReader(str(out / "support.gguf")).fields
    assert fields["general.architecture"].contents() == "llama"
    assert fields["tokenizer.ggml.pre"].contents() == "smollm"  # the bundled GGUF's pre-tokenizer
    assert fields["tokenizer.chat_template"].contents() == smol_tokenizer.chat_template
    assert fields["tokenizer.ggml.eos_token_id"].contents() == smol_tokenizer.eos_token_id


def test_gguf_f16_stores_half_weights_and_f32_norms(tiny_config: Config, tmp_path: Path) -> None:
    adapter = _save_adapter(tiny_config, tmp_path / "adapter", QK)
    result = export_adapter(adapter, tmp_path / "gguf", fmt="gguf", name="support")  # f16 by default
    assert [c.passed for c in result.checks] == [True]
    _, tensors = _raw(tmp_path / "gguf" / "support.gguf")
    assert tensors["blk.0.attn_q.weight"].dtype == np.float16
    assert tensors["blk.0.attn_norm.weight"].dtype == np.float32
    assert "output.weight" not in tensors  # tied to token_embd, as llama.cpp expects


@pytest.mark.parametrize("overrides", [QK, ALL_LINEAR], ids=["lora-q-k", "lora-all-linear"])
def test_gguf_lora_b_of_q_k_is_in_llama_cpp_layout_and_folds_to_the_merged_weights(
    tiny_config: Config, tmp_path: Path, overrides: list[str]
) -> None:
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    adapter = _save_adapter(tiny_config, tmp_path / "adapter", overrides)
    out = tmp_path / "lora"
    result = export_adapter(adapter, out, fmt="gguf-lora", name="billing")
    assert result.files == ["billing-lora.gguf"]
    assert [c.passed for c in result.checks] == [True, True]  # tensors, then logits and greedy tokens
    fields, tensors = _raw(out / "billing-lora.gguf")
    assert (fields["general.type"], fields["adapter.type"], fields["general.architecture"]) == (
        "adapter",
        "lora",
        "llama",
    )
    lora = json.loads((adapter / "adapter_config.json").read_text())
    scale = lora["lora_alpha"] / lora["r"]
    assert fields["adapter.lora.alpha"] == pytest.approx(lora["lora_alpha"])
    expected_names = {
        "blk.0.attn_q.weight.lora_a",
        "blk.0.attn_q.weight.lora_b",
        "blk.1.attn_k.weight.lora_b",
    }
    assert expected_names <= set(tensors)
    # the deltas as llama.cpp applies them (alpha/r * B A), un-permuted by transformers' own code
    model = PEFTModel.from_saved(adapter)
    config = model.model.config
    base = {n: p.detach().clone() for n, p in model.model.named_parameters() if "base_layer" in n}
    model.merge()
    merged = model.model.state_dict()
    processor = LlamaTensorProcessor(config=config.to_dict())
    for layer in range(config.num_hidden_layers):
        for gguf_part, hf_part in (("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj")):
            name = f"blk.{layer}.{gguf_part}.weight"
            delta = scale * (tensors[name + ".lora_b"] @ tensors[name + ".lora_a"])
            hf_delta = torch.from_numpy(processor.process(delta, name).weights)
            hf_name = f"model.layers.{layer}.{hf_part}.weight"
            peft_delta = (
                merged[hf_name] - base[f"base_model.model.{hf_name.replace('.weight', '')}.base_layer.weight"]
            )
            assert (hf_delta - peft_delta).abs().max().item() <= 1e-5
            # as stored, the delta is NOT in HF layout: a writer without the permutation would differ here
            assert (torch.from_numpy(delta) - peft_delta).abs().max().item() > 1e-3


@pytest.mark.parametrize("fmt", ["gguf", "gguf-lora"])
def test_an_export_without_the_q_k_permutation_fails_its_check(
    tiny_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    import supportkit.models.gguf_export as gguf_export

    adapter = _save_adapter(tiny_config, tmp_path / "adapter", QK)
    monkeypatch.setattr(gguf_export, "permute_qk", lambda weights, _n_head: weights)
    with pytest.raises(ExportError, match=r"does not reproduce.*FAILED"):
        export_adapter(adapter, tmp_path / "out", fmt=fmt, gguf_dtype="f32")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("method", "fmt", "message"),
    [
        ("dora", "gguf-lora", "llama.cpp's --lora takes plain LoRA adapters only.*--format gguf"),
        ("ia3", "gguf-lora", "llama.cpp's --lora takes plain LoRA adapters only"),
        ("prompt_tuning", "gguf", "cannot be merged"),
    ],
)
def test_gguf_refuses_what_llama_cpp_cannot_load(
    tiny_config: Config, tmp_path: Path, method: str, fmt: str, message: str
) -> None:
    adapter = _save_adapter(tiny_config, tmp_path / method, [f"peft.method={method}"])
    with pytest.raises(ExportError, match=message):
        export_adapter(adapter, tmp_path / "out", fmt=fmt, verify=False)
    with pytest.raises(ExportError, match="unknown GGUF dtype 'q4'; choose one of f16, f32"):
        export_adapter(adapter, tmp_path / "out", fmt="gguf", gguf_dtype="q4")
    assert not (tmp_path / "out").exists()


def test_export_command_prints_the_llama_server_line_with_the_lora(
    tiny_config: Config, tmp_path: Path, bundled_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supportkit.cli import main
    from supportkit.models.gguf_cache import find_bundled_gguf
    from supportkit.recipes.export_gguf import base_gguf

    adapter = _save_adapter(tiny_config, tmp_path / "adapter", QK)
    out = tmp_path / "billing"
    assert main(["export", str(adapter), "--format", "gguf-lora", "--out", str(out), "--no-verify"]) == 0
    printed = capsys.readouterr().out
    assert (
        f"llama-server -m BASE.gguf --lora {out.resolve() / 'billing-lora.gguf'} --alias billing" in printed
    )
    assert "convert_hf_to_gguf.py" in printed  # the tiny base has no GGUF: how to get one
    # a base converted from the bundled GGUF names that file
    assert base_gguf(bundled_dir) == find_bundled_gguf("smollm2-135m-instruct")
    assert base_gguf(tiny_config.model.name_or_path) is None
