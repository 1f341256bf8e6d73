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
