"""No adaptation: the base model as it is, every weight frozen (the "untuned" row of comparisons)."""

from __future__ import annotations

from supportkit.models.methods.base import register_method

register_method(
    "none",
    backend="none",
    can_merge=False,
    summary="the base model unchanged; nothing trains and nothing is saved",
)
