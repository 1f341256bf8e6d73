"""Every registered adaptation method: what trains, how much, that training moves only it, save/load."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from supportkit.config import Config
from supportkit.errors import AdapterMismatchError, ConfigError
from supportkit.models.methods import METHODS
from supportkit.models.peft import PEFTModel
from tests.helpers import chat_batch, logits, train_steps

# Tiny Llama (tests/conftest.py): hidden 64, MLP 128, 2 layers, 4 heads of 16, 2 KV heads -> kv dim 32.
H, FF, L, KV = 64, 128, 2, 32
LINEARS = {  # name: (d_in, d_out)
    "q_proj": (H, H),
    "k_proj": (H, KV),
    "v_proj": (H, KV),
    "o_proj": (H, H),
    "gate_proj": (H, FF),
    "up_proj": (H, FF),
    "down_proj": (FF, H),
}
ATTN = ("q_proj", "k_proj", "v_proj", "o_proj")
R = 8


def _lokr_linear(d_in: int, d_out: int) -> int:
    # peft factorises each side into near-square factors; w1 is full, w2 full when r >= max/2.
    factors = {64: (8, 8), 32: (4, 8), 128: (8, 16)}
    (out_l, out_k), (in_m, in_n) = factors[d_out], factors[d_in]
    return out_l * in_m + out_k * in_n


EXPECTED = {
    # LoRA: r x (d_in + d_out) per targeted linear ("all-linear": every linear but the head).
    "lora": L * sum(R * (i + o) for i, o in LINEARS.values()),
    # DoRA: LoRA + one magnitude per output feature.
    "dora": L * sum(R * (i + o) + o for i, o in LINEARS.values()),
    # IA3 (peft's Llama defaults): vectors on k and v outputs and on the down_proj input.
    "ia3": L * (KV + KV + FF),
    # LoHa: two rank-r pairs per targeted linear: 2 x r x (d_in + d_out).
    "loha": L * sum(2 * R * (LINEARS[n][0] + LINEARS[n][1]) for n in ATTN),
    "lokr": L * sum(_lokr_linear(*LINEARS[n]) for n in ATTN),
    # Prefix tuning: 20 virtual tokens x layers x (key, value) x kv dim.
    "prefix_tuning": 20 * L * 2 * KV,
    # Prompt tuning: 20 virtual token embeddings.
    "prompt_tuning": 20 * H,
    # Pfeiffer (seq_bn), reduction 16: one bottleneck (down + up, with biases) per layer.
    "bottleneck": L * ((H * (H // 16) + H // 16) + ((H // 16) * H + H)),
    "full": None,  # every parameter
    "none": 0,  # the base model, frozen
}

ADAPTER_MARKERS = ("lora_", "ia3_", "hada_", "lokr_", "prompt_encoder", "adapters.", "adapter_")


def test_grid_covers_every_registered_method() -> None:
    assert sorted(EXPECTED) == METHODS.names()


def _build(tiny_config: Config, method: str) -> PEFTModel:
    tiny_config.peft.method = method
    return PEFTModel(tiny_config)


@pytest.mark.parametrize("method", METHODS.names())
def test_only_adapter_parameters_train_and_count_matches_formula(tiny_config: Config, method: str) -> None:
    model = _build(tiny_config, method)
    trainable, total = model.trainable_parameters()
    expected = EXPECTED[method] if EXPECTED[method] is not None else total
    assert trainable == expected
    names = [n for n, p in model.model.named_parameters() if p.requires_grad]
    if method == "none":
        assert names == [] and trainable == 0
    elif method != "full":
        assert names and all(any(m in n for m in ADAPTER_MARKERS) for n in names), names[:5]
        assert 0 < trainable < total
    assert f"({100 * trainable / total:.2f}%)" in model.parameter_summary()


@pytest.mark.parametrize("method", METHODS.names())
def test_training_moves_every_adapter_tensor_and_no_base_tensor(
    tiny_config: Config, smol_tokenizer: Any, method: str
) -> None:
    model = _build(tiny_config, method)
    batch = chat_batch(smol_tokenizer, ["It ships in 2 days.", "Your refund is on its way."])
    before = {n: p.detach().clone() for n, p in model.model.named_parameters()}
    trainable = {n for n, p in model.model.named_parameters() if p.requires_grad}
    # Two steps: LoRA's B and the bottleneck up-projection start at zero, so the tensors that
    # feed them get their first non-zero gradient only on the second step.
    if method == "none":
        assert trainable == set()
        return
    losses = train_steps(model, batch, steps=2)
    assert all(torch.isfinite(torch.tensor(losses)))
    after = dict(model.model.named_parameters())
    unchanged = [n for n in trainable if torch.equal(before[n], after[n])]
    assert unchanged == []
    moved_base = [n for n in before if n not in trainable and not torch.equal(before[n], after[n])]
    assert moved_base == []


@pytest.mark.slow  # a second process (torch import): kept out of make test-fast
def test_save_then_load_in_a_fresh_process_gives_identical_logits(
    tiny_config: Config, smol_tokenizer: Any, tmp_path: Path
) -> None:
    batch = chat_batch(smol_tokenizer, ["Sure, I can help with that.", "No."])
    expected = {}
    methods = [m for m in METHODS.names() if m != "none"]
    with pytest.raises(ConfigError, match="nothing to save"):
        _build(Config.from_dict(tiny_config.to_dict()), "none").save_model(tmp_path / "none")
    for method in methods:
        model = _build(Config.from_dict(tiny_config.to_dict()), method)
        train_steps(model, batch, steps=2)
        out = model.save_model(tmp_path / method)
        expected[method] = logits(model, batch)
        torch.save(expected[method], tmp_path / f"{method}.pt")
        _assert_adapter_files_hold_adapter_weights_only(model, out, method)
    torch.save({k: batch[k] for k in ("input_ids", "attention_mask")}, tmp_path / "batch.pt")
    code = (
        "import json, sys, torch\n"
        "from pathlib import Path\n"
        "from supportkit.models.peft import PEFTModel\n"
        "root = Path(sys.argv[1]); batch = torch.load(root / 'batch.pt', weights_only=True)\n"
        "result = {}\n"
        "for name in sys.argv[2:]:\n"
        "    m = PEFTModel.from_saved(root / name)\n"
        "    with torch.inference_mode():\n"
        "        out = m(**batch).logits.float()\n"
        "    ref = torch.load(root / f'{name}.pt', weights_only=True)\n"
        "    same = bool(torch.equal(out.argmax(-1), ref.argmax(-1)))\n"
        "    result[name] = [(out - ref).abs().max().item(), same]\n"
        "print(json.dumps(result))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), *methods],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(result) == methods
    for method, (diff, same_argmax) in result.items():
        assert diff <= 1e-5 and same_argmax, (method, diff)


def _assert_adapter_files_hold_adapter_weights_only(model: PEFTModel, path: Path, method: str) -> None:
    files = sorted(path.glob("*.safetensors"))
    assert files, f"{method}: no safetensors written"
    assert not list(path.glob("*.bin")) and not list(path.glob("*.pt")), f"{method}: pickle files"
    numel = 0
    keys = []
    for file in files:
        with safe_open(str(file), "pt") as fh:
            for key in fh.keys():  # noqa: SIM118 - safe_open has no __iter__
                keys.append(key)
                numel += math.prod(fh.get_slice(key).get_shape())
    trainable, total = model.trainable_parameters()
    if method == "full":
        assert numel == total
        return
    # Exactly the adapter's values: one base matrix would add thousands of values.
    assert numel == trainable, f"{method}: file holds {numel} values, adapter has {trainable}"
    assert all(
        any(m in k for m in (*ADAPTER_MARKERS, "prompt_embeddings", "lora_magnitude")) for k in keys
    ), keys[:5]
    meta = json.loads((path / "supportkit_adapter.json").read_text())
    assert meta["method"] == method and len(meta["base_fingerprint"]) == 64
    assert (path / "tokenizer.json").is_file() and (path / "chat_template.jinja").is_file()


def test_adapter_refuses_a_different_base(tiny_config: Config, smol_tokenizer: Any, tmp_path: Path) -> None:
    from supportkit.testing import build_tiny_model_dir

    model = _build(tiny_config, "lora")
    saved = model.save_model(tmp_path / "lora")
    other_dir = build_tiny_model_dir(tmp_path / "other-base", smol_tokenizer, seed=1)
    other = PEFTModel(Config().with_overrides([f"model.name_or_path={other_dir}"]))
    with pytest.raises(AdapterMismatchError, match="trained on base"):
        other.load_model(saved)
    other.load_model(saved, force=True)  # explicit override is allowed


def test_loading_an_adapter_of_another_method_is_refused(tiny_config: Config, tmp_path: Path) -> None:
    saved = _build(tiny_config, "ia3").save_model(tmp_path / "ia3")
    lora = _build(Config.from_dict(tiny_config.to_dict()), "lora")
    with pytest.raises(ConfigError, match=r"holds a 'ia3' adapter but this model uses 'lora'"):
        lora.load_model(saved)


def test_bad_method_assigned_after_construction_fails_when_building(tiny_config: Config) -> None:
    tiny_config.peft.method = "bogus"
    with pytest.raises(ConfigError, match=r"peft.method = 'bogus' is not allowed: expected one of"):
        PEFTModel(tiny_config)


def test_unknown_peft_option_is_rejected_with_the_known_ones(tiny_config: Config) -> None:
    config = tiny_config.with_overrides(["peft.method=prefix_tuning", "peft.options.num_virtual_tokenz=4"])
    with pytest.raises(
        ConfigError,
        match=r"num_virtual_tokenz not understood by method 'prefix_tuning'.*num_virtual_tokens",
    ):
        PEFTModel(config)
    config = tiny_config.with_overrides(["peft.method=prefix_tuning", "peft.options.num_virtual_tokens=4"])
    assert PEFTModel(config).trainable_parameters()[0] == 4 * L * 2 * KV
