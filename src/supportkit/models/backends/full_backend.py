"""Full fine-tuning: every weight trains; the saved "adapter" is the whole model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from supportkit.errors import ConfigError, ModelLoadError
from supportkit.models.backends.base import BACKENDS, Backend

if TYPE_CHECKING:
    from supportkit.config import Config
    from supportkit.config.methods import MethodSpec


@BACKENDS.register("full")
class FullBackend(Backend):
    weights_file = "model.safetensors"

    def __init__(self, spec: MethodSpec, model: Any, config: Config, adapter_name: str) -> None:
        super().__init__(spec, model, config, adapter_name)
        self._name = adapter_name
        for p in model.parameters():
            p.requires_grad_(True)

    @property
    def adapter_names(self) -> list[str]:
        return [self._name]

    @property
    def active_adapter(self) -> str:
        return self._name

    def add_adapter(self, name: str, config: Config) -> None:
        raise ConfigError("full fine-tuning has no named adapters; use an adapter method for that")

    def set_adapter(self, name: str) -> None:
        self._require(name)

    def delete_adapter(self, name: str) -> None:
        raise ConfigError("full fine-tuning has no named adapters to delete")

    def save(self, path: Path, name: str) -> None:
        self.module.save_pretrained(path, safe_serialization=True)

    def load(self, path: Path, name: str) -> None:
        from safetensors.torch import load_model

        weights = path / self.weights_file
        if not weights.is_file():
            raise ModelLoadError(f"{path} has no {self.weights_file}; was it saved by a full run?")
        # strict=False only because tied weights (lm_head = embeddings) are stored once.
        missing, unexpected = load_model(self.module, str(weights), strict=False)
        tied = {"lm_head.weight"} if self.module.config.tie_word_embeddings else set()
        if unexpected or set(missing) - tied:
            raise ModelLoadError(f"{weights} does not match this model: {sorted(missing)[:3]}")
