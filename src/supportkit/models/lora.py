"""``LoRAModel``: LoRA (or DoRA with ``peft.method: dora``) through peft.

model = LoRAModel(Config())
model.add_adapter("billing")          # several named adapters on one base
model.set_adapter("billing")
model.merge()                         # verified fold-in for zero-overhead inference
"""

from __future__ import annotations

from supportkit.config import Config
from supportkit.errors import ConfigError
from supportkit.models.peft import PEFTModel


class LoRAModel(PEFTModel):
    """LoRA adapters on the configured base; reads ``config.lora``."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        adapter_name: str = "default",
        method: str | None = None,
    ) -> None:
        if method not in (None, "lora", "dora"):
            raise ConfigError(f"LoRAModel holds LoRA or DoRA adapters, not {method!r}; use PEFTModel")
        super().__init__(config, adapter_name=adapter_name, method=method)

    def _default_method(self) -> str:
        # The deprecated lora.use_dora was turned into peft.method=dora by config.validate().
        return "dora" if self.config.peft.method == "dora" else "lora"
