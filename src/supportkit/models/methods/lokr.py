"""LoKr: Kronecker-product updates (peft). Reads ``config.peft.options``."""

from __future__ import annotations

from typing import Any

from supportkit.config import Config
from supportkit.models.methods.base import METHODS, MethodSpec, peft_config_from_options

DEFAULTS = {"r": 8, "alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}


def lokr_config(config: Config) -> Any:
    from peft import LoKrConfig

    return peft_config_from_options("lokr", LoKrConfig, config.peft.options, DEFAULTS)


METHODS.add(
    "lokr",
    MethodSpec(
        name="lokr",
        backend="peft",
        can_merge=True,
        summary="Kronecker product of a small and a low-rank factor on attention projections",
        peft_config=lokr_config,
    ),
)
