"""Loading untrusted adapter directories: no remote code, safetensors only, no half-registered adapter."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from supportkit.config import Config
from supportkit.errors import ModelLoadError
from supportkit.models.artifacts import META_FILE
from supportkit.models.peft import PEFTModel

EVIL = """
from pathlib import Path
Path({marker!r}).write_text("ran")
from transformers import LlamaConfig
class EvilConfig(LlamaConfig):
    pass
"""


@pytest.fixture
def saved(tiny_config: Config, tmp_path: Path) -> Path:
    return PEFTModel(tiny_config).save_model(tmp_path / "adapter")


def test_recorded_trust_remote_code_and_crafted_base_never_run_code(
    saved: Path, tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = tmp_path / "crafted-base"
    shutil.copytree(tiny_model_dir, base)
    marker = tmp_path / "code-ran"
    (base / "configuration_evil.py").write_text(EVIL.format(marker=str(marker)))
    cfg = json.loads((base / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig"}
    (base / "config.json").write_text(json.dumps(cfg))
    meta = json.loads((saved / META_FILE).read_text())
    meta["config"]["model"].update(trust_remote_code=True, name_or_path=str(base))
    (saved / META_FILE).write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING):
        model = PEFTModel.from_saved(saved)
    assert not marker.exists()
    assert model.config.model.trust_remote_code is False
    assert "trust_remote_code" in caplog.text and META_FILE in caplog.text


def test_the_callers_config_decides_the_base(saved: Path, tiny_config: Config) -> None:
    meta = json.loads((saved / META_FILE).read_text())
    meta["config"]["model"]["name_or_path"] = "/nonexistent/evil-base"
    (saved / META_FILE).write_text(json.dumps(meta))
    model = PEFTModel.from_saved(saved, tiny_config)
    assert model.config.model.name_or_path == tiny_config.model.name_or_path


def test_pickled_weights_are_refused_with_the_file_named(saved: Path) -> None:
    (saved / "adapter_model.safetensors").rename(saved / "adapter_model.bin")
    with pytest.raises(ModelLoadError, match=r"adapter_model\.safetensors.*adapter_model\.bin"):
        PEFTModel.from_saved(saved)


def test_a_truncated_weights_file_is_named(saved: Path) -> None:
    weights = saved / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:40])
    with pytest.raises(ModelLoadError, match=r"adapter_model\.safetensors"):
        PEFTModel.from_saved(saved)


def test_a_failed_load_leaves_no_half_registered_adapter(saved: Path, tiny_config: Config) -> None:
    weights = saved / "adapter_model.safetensors"
    state = load_file(str(weights))
    key = next(iter(state))
    state[key] = torch.zeros(3, 3)  # wrong shape
    save_file(state, str(weights))
    model = PEFTModel(tiny_config)
    with pytest.raises(ModelLoadError, match=r"adapter_model\.safetensors"):
        model.load_adapter(saved, "billing")
    assert model.adapter_names == ["default"] and model.active_adapter == "default"
    before = {k: v.clone() for k, v in model.model.state_dict().items() if "lora" in k}
    with pytest.raises(ModelLoadError):
        model.load_adapter(saved, "default")  # same name: its weights stay as they were
    after = {k: v for k, v in model.model.state_dict().items() if "lora" in k}
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_bottleneck_adapter_with_a_crafted_config_is_refused_before_anything_changes(
    tiny_config: Config, tmp_path: Path
) -> None:
    from supportkit.models.adapter import AdapterModel

    model = AdapterModel(tiny_config, adapter_name="billing")
    saved = model.save_model(tmp_path / "billing")
    (saved / "adapter_config.json").write_text(json.dumps({"name": "billing"}))
    with pytest.raises(ModelLoadError, match=r"adapter_config\.json"):
        model.load_adapter(saved, "billing")
    assert model.adapter_names == ["billing"] and model.active_adapter == "billing"
