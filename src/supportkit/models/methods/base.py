"""What an adaptation method is: a name, the library that implements it, and how to configure it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from supportkit.errors import ConfigError
from supportkit.registry import Registry

if TYPE_CHECKING:
    from supportkit.config import Config


@dataclass(frozen=True)
class MethodSpec:
    """One adaptation method.

    ``backend`` names the implementation: ``peft`` (any peft tuner; ``peft_config`` builds its
    config), ``adapters`` (AdapterHub bottleneck adapters) or ``full`` (every weight trains).
    """

    name: str
    backend: str
    can_merge: bool
    summary: str
    peft_config: Callable[[Config], Any] | None = None


METHODS: Registry[MethodSpec] = Registry("adaptation method")


def mergeable_methods() -> list[str]:
    return [name for name in METHODS if METHODS.get(name).can_merge]


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
