"""Prefix tuning: trained key/value prefixes in every layer (peft). Reads ``config.peft.options``."""

from __future__ import annotations

from supportkit.models.methods.base import register_options_method

register_options_method(
    "prefix_tuning",
    "PrefixTuningConfig",
    can_merge=False,
    summary="trained per-layer key/value prefixes; cannot be merged",
    defaults={"num_virtual_tokens": 20},
)
