"""The base model unchanged (method ``none``): nothing trains, there is nothing to save."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from supportkit.errors import ConfigError
from supportkit.models.backends.base import BACKENDS, Backend

if TYPE_CHECKING:
    from supportkit.config import Config
    from supportkit.config.methods import MethodSpec


@BACKENDS.register("none")
class NoneBackend(Backend):
    def __init__(self, spec: MethodSpec, model: Any, config: Config, adapter_name: str) -> None:
        super().__init__(spec, model, config, adapter_name)
        for p in model.parameters():
            p.requires_grad_(False)

    @property
    def adapter_names(self) -> list[str]:
        return []

    @property
    def active_adapter(self) -> str:
        return ""

    def _refuse(self) -> ConfigError:
        return ConfigError("method 'none' has no adapter; choose an adapter method (e.g. peft.method=lora)")

    def add_adapter(self, name: str, config: Config) -> None:
        raise self._refuse()

    def set_adapter(self, name: str) -> None:
        raise self._refuse()

    def delete_adapter(self, name: str) -> None:
        raise self._refuse()

    def save(self, path: Path, name: str) -> None:
        raise ConfigError("method 'none' trains nothing, so there is nothing to save")

    def load(self, path: Path, name: str) -> None:
        raise self._refuse()
