"""DoRA: LoRA with a learned magnitude vector per output (peft ``use_dora``). Reads ``config.lora``.

``peft.method: dora`` is the one DoRA switch (``lora.use_dora`` is a deprecated alias of it).
"""

from __future__ import annotations

import functools

from supportkit.models.methods.base import register_method
from supportkit.models.methods.lora import lora_config

register_method(
    "dora",
    backend="peft",
    can_merge=True,
    summary="weight-decomposed LoRA (direction + magnitude); mergeable",
    peft_config=functools.partial(lora_config, use_dora=True),
)
