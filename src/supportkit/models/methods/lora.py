"""LoRA: trainable low-rank updates next to frozen linear layers (peft). Reads ``config.lora``."""

from __future__ import annotations

from typing import Any

from supportkit.config import Config
from supportkit.models.methods.base import register_method


def lora_config(config: Config, *, use_dora: bool = False) -> Any:
    """A peft ``LoraConfig`` from ``config.lora`` (``use_dora=True``: the ``dora`` method's)."""
    from peft import LoraConfig

    section = config.lora
    section.validate()
    return LoraConfig(
        r=section.r,
        lora_alpha=section.lora_alpha,
        lora_dropout=section.lora_dropout,
        target_modules=section.target_modules,
        bias=section.bias,  # type: ignore[arg-type]  # validated against LORA_BIAS
        use_dora=use_dora,
        task_type="CAUSAL_LM",
    )


register_method(
    "lora",
    backend="peft",
    can_merge=True,
    summary="low-rank update matrices on the chosen linear layers; mergeable",
    peft_config=lora_config,
)
