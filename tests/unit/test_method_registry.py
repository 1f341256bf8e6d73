"""Method and backend registration: one call per method, backends looked up by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from supportkit.config import Config
from supportkit.config.methods import METHODS, MethodSpec, register_method
from supportkit.errors import UnknownNameError
from supportkit.models.backends import BACKENDS, create_backend

METHOD_DIR = Path(__file__).resolve().parents[2] / "src" / "supportkit" / "models" / "methods"


def test_every_method_names_a_registered_backend() -> None:
    assert METHODS.names() == sorted(
        [
            "bottleneck",
            "dora",
            "full",
            "ia3",
            "loha",
            "lokr",
            "lora",
            "none",
            "prefix_tuning",
            "prompt_tuning",
        ]
    )
    for name in METHODS:
        spec = METHODS.get(name)
        assert spec.name == name
        BACKENDS.get(spec.backend)  # raises for an unregistered backend
    assert BACKENDS.names() == ["adapters", "full", "none", "peft"]


def test_each_method_file_registers_once_and_spells_its_name_once() -> None:
    for path in sorted(METHOD_DIR.glob("*.py")):
        if path.name in ("__init__.py", "base.py"):
            continue
        text = path.read_text()
        calls = re.findall(r"^register_(?:options_)?method\(", text, re.MULTILINE)
        assert len(calls) == 1, path.name
        names = re.findall(rf'(?<!backend=)"{path.stem}"', text)  # "full"/"none" also name a backend
        assert len(names) == 1, f"{path.name} spells its name more than once"


def test_register_method_refuses_duplicates_and_a_peft_method_without_its_config() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_method("lora", backend="peft", can_merge=True, summary="again", peft_config=lambda c: None)
    with pytest.raises(ValueError, match="needs peft_config"):
        register_method("half_lora", backend="peft", can_merge=True, summary="no config")
    assert "half_lora" not in METHODS


def test_unknown_backend_is_a_clear_error() -> None:
    spec = MethodSpec(name="ghost", backend="nope", can_merge=False, summary="")
    with pytest.raises(UnknownNameError, match=r"unknown adaptation backend 'nope'; known: adapters, full"):
        create_backend(spec, object(), Config(), "default")


def test_strategies_take_their_name_from_their_one_registration() -> None:
    from supportkit.prompts import STRATEGIES

    assert {"zero_shot", "few_shot", "cot", "role_context", "knowledge", "combined"} <= set(STRATEGIES)
    for name in STRATEGIES:
        assert STRATEGIES.get(name).name == name
    prompts = METHOD_DIR.parents[1] / "prompts"
    for path in prompts.glob("*.py"):
        assert not re.search(r"^    name = \"", path.read_text(), re.MULTILINE), path.name
