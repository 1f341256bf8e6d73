"""Prefix tuning: trained key/value prefixes in every layer (peft). Reads ``config.peft.options``."""

from __future__ import annotations

from typing import Any

from supportkit.config import Config
from supportkit.models.methods.base import METHODS, MethodSpec, peft_config_from_options

DEFAULTS = {"num_virtual_tokens": 20}


def prefix_tuning_config(config: Config) -> Any:
    from peft import PrefixTuningConfig

    return peft_config_from_options("prefix_tuning", PrefixTuningConfig, config.peft.options, DEFAULTS)


METHODS.add(
    "prefix_tuning",
    MethodSpec(
        name="prefix_tuning",
        backend="peft",
        can_merge=False,
        summary="trained per-layer key/value prefixes; cannot be merged",
        peft_config=prefix_tuning_config,
    ),
)
