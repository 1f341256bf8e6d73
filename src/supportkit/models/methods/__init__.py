"""Adaptation methods: one file and one registration call each.

``METHODS`` (kept in :mod:`supportkit.config.methods`) maps a method name (``config.peft.method``)
to its :class:`MethodSpec`; it imports this package on its first lookup. Importing it is cheap:
the method modules import peft / adapters only when a model is built.
"""

from __future__ import annotations

# Each import registers one method.
from supportkit.models.methods import (  # noqa: F401  (imported for registration)
    bottleneck,
    dora,
    full,
    ia3,
    loha,
    lokr,
    lora,
    none,
    prefix_tuning,
    prompt_tuning,
)
from supportkit.models.methods.base import METHODS, MethodSpec, register_method

__all__ = ["METHODS", "MethodSpec", "register_method"]
