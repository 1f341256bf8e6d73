"""IA3: learned rescaling vectors on keys, values and the MLP (peft). Reads ``config.peft.options``."""

from __future__ import annotations

from typing import Any

from supportkit.config import Config
from supportkit.models.methods.base import METHODS, MethodSpec, peft_config_from_options


def ia3_config(config: Config) -> Any:
    from peft import IA3Config

    # peft knows the right k/v/down_proj targets for common architectures when left unset.
    return peft_config_from_options("ia3", IA3Config, config.peft.options, {})


METHODS.add(
    "ia3",
    MethodSpec(
        name="ia3",
        backend="peft",
        can_merge=True,
        summary="learned scaling vectors on attention keys/values and MLP inputs; tiny; mergeable",
        peft_config=ia3_config,
    ),
)
