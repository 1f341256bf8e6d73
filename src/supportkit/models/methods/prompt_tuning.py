"""Prompt tuning: trained soft-prompt embeddings before the input (peft). Reads ``config.peft.options``."""

from __future__ import annotations

from supportkit.models.methods.base import register_options_method

register_options_method(
    "prompt_tuning",
    "PromptTuningConfig",
    can_merge=False,
    summary="trained soft-prompt vectors prepended to the input; cannot be merged",
    defaults={"num_virtual_tokens": 20},
)
