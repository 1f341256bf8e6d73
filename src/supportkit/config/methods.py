"""The catalogue of adaptation methods that ``peft.method`` names, and how a method registers.

A method registers itself with one call, spelling its name once (as peft's ``register_peft_method``)::

    register_method("ia3", backend="peft", can_merge=True, summary="...", peft_config=build_ia3)

The implementations live above this layer (``supportkit.models.methods``, one file per method;
``supportkit.models.backends``, one class per backend). The catalogue imports that package by name
the first time a method is looked up (see :class:`~supportkit.registry.Registry`), so
``PEFTConfig`` can check a name without a static import of the model layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from supportkit.registry import Registry

if TYPE_CHECKING:
    from supportkit.config.core import Config


@dataclass(frozen=True)
class MethodSpec:
    """One adaptation method.

    ``backend`` names the implementation in the backend registry
    (:data:`supportkit.models.backends.BACKENDS`): ``peft`` (any peft tuner; ``peft_config``
    builds its config from a :class:`Config`), ``adapters`` (AdapterHub bottleneck adapters),
    ``full`` (every weight trains) or ``none`` (the base model as is).
    """

    name: str
    backend: str
    can_merge: bool
    summary: str
    peft_config: Callable[[Config], Any] | None = None


METHODS: Registry[MethodSpec] = Registry("adaptation method", builtins="supportkit.models.methods")


def register_method(
    name: str,
    *,
    backend: str,
    can_merge: bool,
    summary: str,
    peft_config: Callable[[Config], Any] | None = None,
) -> MethodSpec:
    """Register adaptation method ``name`` and return its spec.

    Raises ``ValueError`` when the name is taken or not made of letters, digits, ``_`` and ``-``,
    or when a ``peft`` method comes without ``peft_config``.
    """
    if backend == "peft" and peft_config is None:
        raise ValueError(f"method {name!r}: a peft method needs peft_config (Config -> peft config)")
    spec = MethodSpec(
        name=name, backend=backend, can_merge=can_merge, summary=summary, peft_config=peft_config
    )
    METHODS.add(name, spec)
    return spec


def mergeable_methods() -> list[str]:
    """Names of the methods whose adapter can be folded into the base weights."""
    return [name for name in METHODS if METHODS.get(name).can_merge]
