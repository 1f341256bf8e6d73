"""LoHa: low-rank Hadamard-product updates (peft). Reads ``config.peft.options``."""

from __future__ import annotations

from supportkit.models.methods.base import register_options_method

register_options_method(
    "loha",
    "LoHaConfig",
    can_merge=True,
    summary="Hadamard product of two low-rank updates on attention projections; mergeable",
    defaults={"r": 8, "alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
)
