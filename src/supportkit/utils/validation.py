"""Checking config values: typed coercion of YAML values and range/choice checks.

Errors name the field (``section.name``) and what is allowed.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any, Literal, get_args, get_origin

from supportkit.errors import ConfigError, did_you_mean


def fail(section: str, name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{section}.{name} = {value!r} is not allowed: expected {allowed}")


def check_positive(section: str, obj: Any, *names: str, allow_zero: bool = False) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(section, name, value, "a number")
        if value < 0 or (value == 0 and not allow_zero):
            fail(section, name, value, "a number >= 0" if allow_zero else "a number > 0")


def check_choice(section: str, obj: Any, name: str, choices: Iterable[str]) -> None:
    value = getattr(obj, name)
    choices = tuple(choices)
    if value not in choices:
        fail(section, name, value, "one of " + ", ".join(map(str, choices)) + did_you_mean(value, choices))


def check_fraction(section: str, obj: Any, *names: str, inclusive_high: bool = True) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(section, name, value, "a number between 0 and 1")
        if not (0 <= value <= 1) or (value == 1 and not inclusive_high):
            fail(section, name, value, "a number between 0 and 1")


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against a field annotation, converting only lossless cases (int -> float)."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[-1] if errors else f"{where}: invalid value {value!r}")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{where} = {value!r}: expected one of {', '.join(map(repr, args))}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where} = {value!r}: expected a list")
        return [coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else value
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} = {value!r}: expected a mapping")
        return dict(value)
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} = {value!r}: expected true or false")
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where} = {value!r}: expected a number")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where} = {value!r}: expected a whole number")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} = {value!r}: expected a string")
    return value
