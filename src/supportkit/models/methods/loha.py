"""LoHa: low-rank Hadamard-product updates (peft). Reads ``config.peft.options``."""

from __future__ import annotations

from typing import Any

from supportkit.config import Config
from supportkit.models.methods.base import METHODS, MethodSpec, peft_config_from_options

DEFAULTS = {"r": 8, "alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}


def loha_config(config: Config) -> Any:
    from peft import LoHaConfig

    return peft_config_from_options("loha", LoHaConfig, config.peft.options, DEFAULTS)


METHODS.add(
    "loha",
    MethodSpec(
        name="loha",
        backend="peft",
        can_merge=True,
        summary="Hadamard product of two low-rank updates on attention projections; mergeable",
        peft_config=loha_config,
    ),
)
