"""Helpers for method files; the catalogue itself is :mod:`supportkit.config.methods`.

A method file is one registration call, its name spelled once::

    register_options_method("ia3", "IA3Config", can_merge=True, summary="...")
"""

from __future__ import annotations

import dataclasses
from typing import Any

from supportkit.config import Config
from supportkit.config.methods import METHODS, MethodSpec, mergeable_methods, register_method
from supportkit.errors import ConfigError

__all__ = [
    "METHODS",
    "MethodSpec",
    "mergeable_methods",
    "peft_config_from_options",
    "register_method",
    "register_options_method",
]


def peft_config_from_options(
    method: str, config_cls: type, options: dict[str, Any], defaults: dict[str, Any]
) -> Any:
    """Build a peft config from ``config.peft.options``, rejecting options the class lacks."""
    known = {f.name for f in dataclasses.fields(config_cls) if f.init} - {"task_type", "peft_type"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"peft.options {', '.join(unknown)} not understood by method {method!r} "
            f"({config_cls.__name__}); known options: {', '.join(sorted(known))}"
        )
    try:
        return config_cls(**{**defaults, **options, "task_type": "CAUSAL_LM"})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"peft.options for method {method!r} are invalid: {exc}") from exc


def register_options_method(
    name: str,
    peft_config_class: str,
    *,
    can_merge: bool,
    summary: str,
    defaults: dict[str, Any] | None = None,
) -> MethodSpec:
    """Register a peft method configured only through ``peft.options``.

    ``peft_config_class`` names the config class in ``peft`` (imported when a model is built);
    ``defaults`` are used for options the config leaves unset.
    """
    preset = dict(defaults or {})

    def build(config: Config) -> Any:
        import peft

        cls = getattr(peft, peft_config_class)
        return peft_config_from_options(name, cls, config.peft.options, preset)

    return register_method(name, backend="peft", can_merge=can_merge, summary=summary, peft_config=build)
