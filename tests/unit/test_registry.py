import sys
from pathlib import Path

import pytest

from supportkit.errors import UnknownNameError
from supportkit.registry import Registry


def test_register_get_and_list() -> None:
    reg: Registry[int] = Registry("widget")
    reg.add("b", 2)

    @reg.register("a")
    def _a() -> None: ...

    assert reg.names() == ["a", "b"]
    assert reg.get("b") == 2
    assert "a" in reg and "c" not in reg
    assert len(reg) == 2


def test_unknown_name_lists_known_ones() -> None:
    reg: Registry[int] = Registry("widget")
    reg.add("alpha", 1)
    reg.add("beta", 2)
    with pytest.raises(UnknownNameError, match=r"unknown widget 'gamma'; known: alpha, beta"):
        reg.get("gamma")


def test_duplicate_and_invalid_names_are_rejected() -> None:
    reg: Registry[int] = Registry("widget")
    reg.add("x", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("x", 2)
    reg.add("x", 3, replace=True)
    assert reg.get("x") == 3
    with pytest.raises(ValueError, match="invalid widget name"):
        reg.add("has space", 1)


def test_builtins_module_is_imported_on_first_lookup_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg: Registry[int] = Registry("gadget", builtins="gadget_builtins")
    (tmp_path / "gadget_builtins.py").write_text(
        "import sys\nfrom tests_registry_probe import REG\nREG.add('spring', 1)\nREG.add('lever', 2)\n"
    )
    probe = tmp_path / "tests_registry_probe.py"
    probe.write_text("REG = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import tests_registry_probe

    monkeypatch.setattr(tests_registry_probe, "REG", reg)
    monkeypatch.delitem(sys.modules, "gadget_builtins", raising=False)
    reg.add("custom", 3)  # adding does not load the built-ins
    assert "gadget_builtins" not in sys.modules
    assert reg.names() == ["custom", "lever", "spring"]
    assert reg.get("lever") == 2 and len(reg) == 3


def test_a_failing_builtins_module_is_retried_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg: Registry[int] = Registry("gizmo", builtins="gizmo_missing_builtins")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError):
        reg.names()
    (tmp_path / "gizmo_missing_builtins.py").write_text("")
    assert reg.names() == []  # the next lookup tries again
