"""Implementations behind the adaptation methods: peft tuners, AdapterHub adapters, full tuning.

Each backend wraps the loaded transformers model and offers the same small surface:
named adapters (add / activate / delete), save / load of one adapter directory, merge where the
method allows it. :class:`supportkit.models.peft.PEFTModel` talks only to this surface.

A backend registers its class under the name methods give as ``MethodSpec.backend``
(``@BACKENDS.register("peft")``); :func:`create_backend` looks it up, no dispatch chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Each import registers one backend (the libraries themselves are imported when one is built).
from supportkit.models.backends import (  # noqa: F401  (imported for registration)
    adapters_backend,
    full_backend,
    none_backend,
    peft_backend,
)
from supportkit.models.backends.base import BACKENDS, Backend

if TYPE_CHECKING:
    from supportkit.config import Config
    from supportkit.config.methods import MethodSpec


def create_backend(spec: MethodSpec, model: Any, config: Config, adapter_name: str) -> Backend:
    """Wrap ``model`` in the backend ``spec.backend`` names.

    Raises :class:`~supportkit.errors.UnknownNameError` (listing the registered backends) when
    no backend of that name is registered.
    """
    return BACKENDS.get(spec.backend)(spec, model, config, adapter_name)


__all__ = ["BACKENDS", "Backend", "create_backend"]
