"""DoRA: LoRA with a learned magnitude vector per output (peft ``use_dora``). Reads ``config.lora``."""

from __future__ import annotations

from supportkit.models.methods.base import METHODS, MethodSpec
from supportkit.models.methods.lora import lora_config

METHODS.add(
    "dora",
    MethodSpec(
        name="dora",
        backend="peft",
        can_merge=True,
        summary="weight-decomposed LoRA (direction + magnitude); mergeable",
        peft_config=lambda config: lora_config(config, use_dora=True),
    ),
)
