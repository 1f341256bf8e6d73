"""Implementations behind the adaptation methods: peft tuners, AdapterHub adapters, full tuning.

Each backend wraps the loaded transformers model and offers the same small surface:
named adapters (add / activate / delete), save / load of one adapter directory, merge where the
method allows it. :class:`supportkit.models.peft.PEFTModel` talks only to this surface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supportkit.models.backends.base import Backend

if TYPE_CHECKING:
    from supportkit.config import Config
    from supportkit.models.methods.base import MethodSpec


def create_backend(spec: MethodSpec, model: Any, config: Config, adapter_name: str) -> Backend:
    if spec.backend == "peft":
        from supportkit.models.backends.peft_backend import PeftBackend

        return PeftBackend(spec, model, config, adapter_name)
    if spec.backend == "adapters":
        from supportkit.models.backends.adapters_backend import AdaptersBackend

        return AdaptersBackend(spec, model, config, adapter_name)
    if spec.backend == "full":
        from supportkit.models.backends.full_backend import FullBackend

        return FullBackend(spec, model, config, adapter_name)
    if spec.backend == "none":
        from supportkit.models.backends.none_backend import NoneBackend

        return NoneBackend(spec, model, config, adapter_name)
    raise ValueError(f"method {spec.name!r} names an unknown backend {spec.backend!r}")


__all__ = ["Backend", "create_backend"]
