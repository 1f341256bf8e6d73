"""LoKr: Kronecker-product updates (peft). Reads ``config.peft.options``."""

from __future__ import annotations

from supportkit.models.methods.base import register_options_method

register_options_method(
    "lokr",
    "LoKrConfig",
    can_merge=True,
    summary="Kronecker product of a small and a low-rank factor on attention projections",
    defaults={"r": 8, "alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
)
