"""Full fine-tuning: every weight trains. The reference point the adapters are compared with."""

from __future__ import annotations

from supportkit.models.methods.base import register_method

register_method(
    "full", backend="full", can_merge=False, summary="all weights train (baseline); saves a whole model"
)
