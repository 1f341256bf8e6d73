"""Adaptation methods: one file + one registration each.

``METHODS`` maps a method name (``config.peft.method``) to its :class:`MethodSpec`. Importing this
package is cheap: the method modules import peft / adapters only when a model is built.
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
from supportkit.models.methods.base import METHODS, MethodSpec

__all__ = ["METHODS", "MethodSpec"]
