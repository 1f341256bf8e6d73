"""``model.dtype: auto`` on a CPU needs native bf16 AND a passed quality gate; threads follow config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from supportkit.config import Config
from supportkit.errors import ConfigError
from supportkit.models.precision import (
    apply_threads,
    auto_cpu_dtype,
    available_cores,
    cpu_has_native_bf16,
    read_gate,
    write_gate,
)

BF16 = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni\n"
AVX2 = "processor\t: 0\nflags\t\t: fpu sse avx2 fma\n"


def _cpuinfo(tmp_path: Path, text: str, name: str = "cpuinfo") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    assert cpu_has_native_bf16(_cpuinfo(tmp_path, BF16))
    assert not cpu_has_native_bf16(_cpuinfo(tmp_path, AVX2))
    assert not cpu_has_native_bf16(tmp_path / "missing")


def test_auto_is_bf16_only_with_native_bf16_and_a_passed_gate(tmp_path: Path) -> None:
    bf16, avx2 = _cpuinfo(tmp_path, BF16), _cpuinfo(tmp_path, AVX2, "cpuinfo-avx2")
    model = tmp_path / "model"
    model.mkdir()
    assert auto_cpu_dtype(model, bf16) == "float32"  # no gate recorded
    write_gate(model, "bfloat16", {"passed": False, "rouge_l_delta": -0.03})
    assert auto_cpu_dtype(model, bf16) == "float32"
    write_gate(model, "bfloat16", {"passed": True, "rouge_l_delta": -0.002})
    assert auto_cpu_dtype(model, bf16) == "bfloat16"
    assert auto_cpu_dtype(model, avx2) == "float32"  # the gate alone is not enough
    with pytest.raises(ValueError, match="passed"):
        write_gate(model, "bfloat16", {"rouge_l_delta": 0.0})


def test_threads_setting(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    try:
        assert apply_threads(1) == 1 and torch.get_num_threads() == 1
        assert apply_threads(None) == available_cores() == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ConfigError, match=r"model\.threads"):
        Config().with_overrides(["model.threads=0"]).validate()
    Config().with_overrides(["model.threads=2", "model.dtype=auto"]).validate()


def test_a_shipped_gate_counts_for_the_model_with_its_fingerprint(tmp_path: Path) -> None:
    import json

    bf16 = _cpuinfo(tmp_path, BF16)
    shipped = tmp_path / "gates.json"
    shipped.write_text(json.dumps({"abc123": {"bfloat16": {"passed": True, "rouge_l_delta": 0.002}}}))
    model = tmp_path / "model"
    model.mkdir()
    assert read_gate(model, shipped) == {}  # no fingerprint: nothing shipped applies
    (model / "supportkit.json").write_text(json.dumps({"fingerprint": "other"}))
    assert read_gate(model, shipped) == {}
    (model / "supportkit.json").write_text(json.dumps({"fingerprint": "abc123"}))
    assert read_gate(model, shipped)["bfloat16"]["passed"] is True
    write_gate(model, "bfloat16", {"passed": False})  # a local result wins
    assert read_gate(model, shipped)["bfloat16"] == {"passed": False}
    assert auto_cpu_dtype(model, bf16) == "float32"


def test_the_bundled_models_shipped_gate_is_the_recorded_pass() -> None:
    import json

    from supportkit.models.precision import SHIPPED_GATES

    [(fingerprint, gates)] = json.loads(SHIPPED_GATES.read_text()).items()
    assert len(fingerprint) == 64 and gates["bfloat16"]["passed"] is True
    assert gates["bfloat16"]["rouge_l_delta"]["low"] >= -0.01  # the gate's own criterion


def test_serving_dtype_replaces_the_default_model_dtype_for_serve_chat_ask() -> None:
    from supportkit.recipes.assistant import serving_precision

    config = Config()
    assert config.serving.dtype == "auto" and config.model.dtype == "float32"
    serving_precision(config)
    assert config.model.dtype == "auto"
    for overrides in (["serving.dtype=null", "model.dtype=bfloat16"], ["model.dtype=float16"]):
        kept = Config().with_overrides(overrides)
        serving_precision(kept)  # null, or a model.dtype chosen on purpose: kept
        assert kept.model.dtype == overrides[-1].split("=")[1]
    with pytest.raises(ConfigError, match=r"serving\.dtype"):
        Config().with_overrides(["serving.dtype=int8"]).validate()
