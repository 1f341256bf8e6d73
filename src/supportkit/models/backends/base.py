"""The surface every backend offers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supportkit.errors import ConfigError
from supportkit.registry import Registry

if TYPE_CHECKING:
    from supportkit.config import Config
    from supportkit.config.methods import MethodSpec


class Backend(ABC):
    """Wraps a loaded model for one adaptation method; ``module`` is what runs forward."""

    #: The file holding the adapter weights inside a saved directory.
    weights_file = "adapter_model.safetensors"

    def __init__(self, spec: MethodSpec, model: Any, config: Config, adapter_name: str) -> None:
        self.spec = spec
        self.module: Any = model

    @property
    @abstractmethod
    def adapter_names(self) -> list[str]: ...

    @property
    @abstractmethod
    def active_adapter(self) -> str: ...

    @abstractmethod
    def add_adapter(self, name: str, config: Config) -> None: ...

    @abstractmethod
    def set_adapter(self, name: str) -> None: ...

    @abstractmethod
    def delete_adapter(self, name: str) -> None: ...

    @abstractmethod
    def save(self, path: Path, name: str) -> None:
        """Write adapter ``name`` (weights in safetensors + its config) into ``path``."""

    @abstractmethod
    def load(self, path: Path, name: str) -> None:
        """Load the adapter saved in ``path`` as ``name`` (replacing one of that name) and activate it."""

    def merge_adapter(self) -> None:
        raise ConfigError(f"method {self.spec.name!r} cannot be merged")

    def unmerge_adapter(self) -> None:
        raise ConfigError(f"method {self.spec.name!r} cannot be merged")

    def merge_and_unload(self) -> Any:
        raise ConfigError(f"method {self.spec.name!r} cannot be merged")

    def _require(self, name: str) -> None:
        if name not in self.adapter_names:
            raise ConfigError(
                f"no adapter named {name!r}; adapters: {', '.join(self.adapter_names) or '(none)'}"
            )


#: Backend name (``MethodSpec.backend``) -> class; each backend module registers its class with
#: ``@BACKENDS.register("name")``. The package imports them all (they import their libraries lazily).
BACKENDS: Registry[type[Backend]] = Registry("adaptation backend", builtins="supportkit.models.backends")
