"""Prompt tuning: trained soft-prompt embeddings before the input (peft). Reads ``config.peft.options``."""

from __future__ import annotations

from typing import Any

from supportkit.config import Config
from supportkit.models.methods.base import METHODS, MethodSpec, peft_config_from_options

DEFAULTS = {"num_virtual_tokens": 20}


def prompt_tuning_config(config: Config) -> Any:
    from peft import PromptTuningConfig

    return peft_config_from_options("prompt_tuning", PromptTuningConfig, config.peft.options, DEFAULTS)


METHODS.add(
    "prompt_tuning",
    MethodSpec(
        name="prompt_tuning",
        backend="peft",
        can_merge=False,
        summary="trained soft-prompt vectors prepended to the input; cannot be merged",
        peft_config=prompt_tuning_config,
    ),
)
