"""``supportkit export``: vLLM LoRA directories and merged transformers models, loaded back and compared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from supportkit.config import Config
from supportkit.errors import ExportError
from supportkit.models.peft import PEFTModel
from supportkit.models.tokenizer import encode_chat
from supportkit.models.vllm_lora import check_vllm_lora, needed_max_lora_rank
from supportkit.recipes.export import CHECK_PROMPTS, export_adapter


def _save_adapter(config: Config, directory: Path, overrides: list[str], name: str = "billing") -> Path:
    """A saved adapter whose weights are far from their (identity) initialisation."""
    model = PEFTModel(config.with_overrides(overrides), adapter_name=name)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.model.parameters():
            if p.requires_grad:
                p.add_(0.3 * torch.randn(p.shape, generator=generator))
    return model.save_model(directory)


def _logits(module: Any, tokenizer: Any) -> torch.Tensor:
    ids = torch.tensor([encode_chat(tokenizer, list(CHECK_PROMPTS[0]))])
    with torch.inference_mode():
        return module(input_ids=ids).logits.float()


def _plain(directory: Path) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(directory), use_safetensors=True).eval()


@pytest.fixture
def qk_lora(tiny_config: Config, tmp_path: Path) -> Path:
    return _save_adapter(tiny_config, tmp_path / "qk", ["lora.target_modules=[q_proj,k_proj]", "lora.r=4"])


def test_vllm_lora_export_of_a_q_k_lora_reloads_in_peft_with_the_same_logits(
    qk_lora: Path, tmp_path: Path, tiny_model_dir: Path, smol_tokenizer: Any
) -> None:
    from peft import PeftModel

    out = tmp_path / "served"
    result = export_adapter(qk_lora, out, fmt="vllm-lora", base="HuggingFaceTB/SmolLM2-135M-Instruct")
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    saved = json.loads((out / "adapter_config.json").read_text())
    assert saved["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert sorted(saved["target_modules"]) == ["k_proj", "q_proj"]
    assert result.command == (
        f"vllm serve HuggingFaceTB/SmolLM2-135M-Instruct --enable-lora --lora-modules billing={out.resolve()}"
    )
    assert [c.passed for c in result.checks] == [True, True]  # peft, and vLLM's alpha/r reading
    # independently of the recipe: plain peft on the plain base gives the adapter model's logits
    adapter_model = PEFTModel.from_saved(qk_lora)
    expected = _logits(adapter_model.model, smol_tokenizer)
    reloaded = PeftModel.from_pretrained(_plain(tiny_model_dir), str(out))
    got = _logits(reloaded, smol_tokenizer)
    assert (got - expected).abs().max().item() <= 1e-4
    assert (expected - _logits(_plain(tiny_model_dir), smol_tokenizer)).abs().max().item() > 1e-2


def test_vllm_lora_rank_above_16_prints_the_max_lora_rank_flag(tiny_config: Config, tmp_path: Path) -> None:
    adapter = _save_adapter(tiny_config, tmp_path / "r20", ["lora.r=20"], name="shipping")
    result = export_adapter(adapter, tmp_path / "out", fmt="vllm-lora", verify=False)
    assert result.command.endswith("--max-lora-rank 32")
    assert "--lora-modules shipping=" in result.command
    assert [needed_max_lora_rank(r) for r in (1, 16, 17, 64, 65, 512)] == [None, None, 32, 64, 128, 512]
    with pytest.raises(ExportError, match="above the largest rank vLLM serves"):
        needed_max_lora_rank(513)


@pytest.mark.parametrize("method", ["dora", "ia3"])
def test_vllm_lora_refuses_other_methods_and_names_what_vllm_serves(
    tiny_config: Config, tmp_path: Path, method: str
) -> None:
    adapter = _save_adapter(tiny_config, tmp_path / method, [f"peft.method={method}"])
    with pytest.raises(ExportError, match=r"vLLM serves plain LoRA adapters only.*--format merged"):
        export_adapter(adapter, tmp_path / "out", fmt="vllm-lora")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"use_dora": True}, "no DoRA"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"bias": "all"}, "bias="),
        ({"rank_pattern": {"q_proj": 8}}, "rank_pattern"),
        ({"target_modules": ["q_proj", "embed_tokens"]}, "embed_tokens are not LoRA-capable"),
        ({"lora_alpha": None}, "no lora_alpha, which vLLM requires"),
        ({"peft_type": "IA3"}, "IA3 adapter"),
        ({"r": 8}, "has rank 4, but adapter_config.json says r=8"),
    ],
)
def test_check_vllm_lora_refuses_what_vllm_cannot_serve(
    qk_lora: Path, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    check_vllm_lora(qk_lora)  # the unchanged adapter passes
    bad = tmp_path / "bad"
    shutil.copytree(qk_lora, bad)
    config = json.loads((bad / "adapter_config.json").read_text()) | change
    (bad / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match=message):
        check_vllm_lora(bad)


def test_check_vllm_lora_refuses_extra_embedding_weights(qk_lora: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    bad = tmp_path / "bad"
    shutil.copytree(qk_lora, bad)
    state = load_file(str(bad / "adapter_model.safetensors"))
    state["base_model.model.model.embed_tokens.weight"] = torch.zeros(4, 4)
    save_file(state, str(bad / "adapter_model.safetensors"))
    with pytest.raises(ExportError, match=r"embed_tokens.weight, which vLLM cannot load"):
        check_vllm_lora(bad)
    (bad / "adapter_model.safetensors").write_bytes(b"\x10\x00\x00\x00not safetensors")
    with pytest.raises(ExportError, match="is not a readable safetensors file"):
        check_vllm_lora(bad)
    save_file({"base_model.model.model.norm.weight": torch.ones(4)}, str(bad / "adapter_model.safetensors"))
    with pytest.raises(ExportError, match="holds no LoRA weights"):
        check_vllm_lora(bad)
    (bad / "adapter_model.safetensors").unlink()
    with pytest.raises(ExportError, match=r"lacks adapter_model.safetensors"):
        check_vllm_lora(bad)


@pytest.mark.parametrize(
    "overrides",
    [["lora.target_modules=[q_proj,k_proj]"], [], ["peft.method=ia3"], ["peft.method=dora"]],
    ids=["lora-q-k", "lora-all-linear", "ia3", "dora"],
)
def test_merged_export_loads_in_transformers_with_the_same_tokens_and_logits(
    tiny_config: Config, tmp_path: Path, smol_tokenizer: Any, overrides: list[str]
) -> None:
    from transformers import AutoTokenizer

    adapter = _save_adapter(tiny_config, tmp_path / "adapter", overrides)
    out = tmp_path / "merged"
    result = export_adapter(adapter, out, fmt="merged")
    assert [c.passed for c in result.checks] == [True]
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= files
    assert not {f for f in files if f.endswith((".bin", ".pt", ".pkl"))}
    assert "supportkit_adapter.json" not in files  # a plain transformers directory
    assert AutoTokenizer.from_pretrained(str(out)).chat_template == smol_tokenizer.chat_template
    # independently of the recipe: the merged model's logits and greedy tokens are the adapter model's
    adapter_model = PEFTModel.from_saved(adapter)
    merged = _plain(out)
    assert (
        _logits(merged, smol_tokenizer) - _logits(adapter_model.model, smol_tokenizer)
    ).abs().max() <= 1e-3
    ids = torch.tensor([encode_chat(smol_tokenizer, list(CHECK_PROMPTS[1]))])
    greedy = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": smol_tokenizer.eos_token_id}
    with torch.inference_mode():
        assert torch.equal(
            merged.generate(ids, **greedy), adapter_model.model.generate(input_ids=ids, **greedy)
        )


@pytest.mark.parametrize("method", ["prompt_tuning", "bottleneck"])
def test_merged_export_refuses_methods_that_cannot_merge(
    tiny_config: Config, tmp_path: Path, method: str
) -> None:
    adapter = _save_adapter(tiny_config, tmp_path / method, [f"peft.method={method}"])
    with pytest.raises(ExportError, match=f"{method!r} adapter, which cannot be merged.*mergeable methods: "):
        export_adapter(adapter, tmp_path / "out", fmt="merged")
    assert not (tmp_path / "out").exists()


def test_a_failed_check_writes_nothing(
    qk_lora: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import supportkit.recipes.export as export

    out = tmp_path / "out"
    export_adapter(qk_lora, out, fmt="vllm-lora", base="earlier", verify=False)
    # a fold that ignores the adapter stands in for a runtime that reads the files wrongly
    monkeypatch.setattr(export, "_fold_like_vllm", lambda _directory, base: base)
    with pytest.raises(ExportError, match=r"does not reproduce.*vLLM's reading.*FAILED"):
        export_adapter(qk_lora, out, fmt="vllm-lora", base="later")
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "earlier"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []  # no temporaries left


def test_export_never_replaces_a_directory_of_other_work(qk_lora: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "runs").mkdir(parents=True)
    (work / "notes.md").write_text("mine")
    with pytest.raises(ExportError, match=r"already holds notes\.md, runs"):
        export_adapter(qk_lora, work, fmt="vllm-lora", verify=False)
    with pytest.raises(ExportError, match="is the adapter directory itself"):
        export_adapter(qk_lora, qk_lora, fmt="merged")
    another = tmp_path / "another-adapter"
    shutil.copytree(qk_lora, another)
    with pytest.raises(ExportError, match="already holds"):
        export_adapter(qk_lora, another, fmt="vllm-lora", verify=False)
    assert (work / "notes.md").read_text() == "mine" and (another / "supportkit_adapter.json").is_file()


def test_export_command_prints_the_vllm_serve_line(
    qk_lora: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supportkit.cli import main

    out = tmp_path / "billing"
    rc = main(["export", str(qk_lora), "--format", "vllm-lora", "--out", str(out), "--base", "org/base"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert f"vllm serve org/base --enable-lora --lora-modules billing={out.resolve()}" in printed
    assert "checked: peft PeftModel.from_pretrained" in printed
    assert main(["export", str(tmp_path / "nowhere"), "--format", "merged"]) == 2
    assert "neither an adapter directory nor a YAML config" in capsys.readouterr().err


def test_full_fine_tune_exports_as_a_merged_model(
    tiny_config: Config, tmp_path: Path, smol_tokenizer: Any
) -> None:
    adapter = _save_adapter(tiny_config, tmp_path / "full", ["peft.method=full"])
    result = export_adapter(adapter, tmp_path / "merged", fmt="merged")
    assert [c.passed for c in result.checks] == [True]
    expected = _logits(PEFTModel.from_saved(adapter).model, smol_tokenizer)
    assert torch.allclose(_logits(_plain(tmp_path / "merged"), smol_tokenizer), expected, atol=1e-5)
    with pytest.raises(ExportError, match="vLLM serves plain LoRA adapters only"):
        export_adapter(adapter, tmp_path / "vllm", fmt="vllm-lora")


def test_export_command_takes_a_training_config(
    tiny_config: Config, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supportkit.cli import main

    run = tmp_path / "run"
    _save_adapter(tiny_config, run / "adapter", ["lora.target_modules=[q_proj,v_proj]"])
    config = tmp_path / "train.yaml"
    config.write_text(f"model:\n  name_or_path: {tiny_model_dir}\ntraining:\n  output_dir: {run}\n")
    assert main(["export", str(config), "--format", "merged"]) == 0, capsys.readouterr().err
    assert (run / "adapter-merged" / "model.safetensors").is_file()
    assert "checked: transformers AutoModelForCausalLM.from_pretrained" in capsys.readouterr().out
