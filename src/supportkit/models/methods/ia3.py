"""IA3: learned rescaling vectors on keys, values and the MLP (peft). Reads ``config.peft.options``."""

from __future__ import annotations

from supportkit.models.methods.base import register_options_method

# peft knows the right k/v/down_proj targets for common architectures when left unset.
register_options_method(
    "ia3",
    "IA3Config",
    can_merge=True,
    summary="learned scaling vectors on attention keys/values and MLP inputs; tiny; mergeable",
)
