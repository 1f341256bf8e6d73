"""``AdapterModel``: bottleneck adapters (Pfeiffer, Houlsby, parallel) and AdapterFusion.

model = AdapterModel(Config().with_overrides(["adapter.adapter_type=houlsby"]))
model.add_adapter("billing"); model.add_adapter("shipping")
...train each...
model.add_fusion(["billing", "shipping"])
model.train_fusion(["billing", "shipping"])   # only the fusion layer trains
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.errors import ConfigError
from supportkit.models.backends.adapters_backend import AdaptersBackend
from supportkit.models.peft import PEFTModel


class AdapterModel(PEFTModel):
    """Bottleneck adapters through AdapterHub ``adapters``; reads ``config.adapter``."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        adapter_name: str | None = None,
        method: str | None = None,
    ) -> None:
        if method not in (None, "bottleneck"):
            raise ConfigError(f"AdapterModel holds bottleneck adapters, not {method!r}; use PEFTModel")
        config = config if config is not None else Config()
        super().__init__(
            config, adapter_name=adapter_name or config.adapter.adapter_name, method="bottleneck"
        )

    @property
    def _adapters(self) -> AdaptersBackend:
        backend = self._backend_or_fail()
        assert isinstance(backend, AdaptersBackend)
        return backend

    def add_fusion(self, names: list[str]) -> Any:
        """Add an AdapterFusion layer over trained adapters ``names``."""
        return self._adapters.add_fusion(names)

    def train_fusion(self, names: list[str]) -> None:
        """Activate the fusion over ``names`` with only its own parameters trainable."""
        self._adapters.activate_fusion(names)

    def set_fusion(self, names: list[str]) -> None:
        """Activate the fusion over ``names`` (same as :meth:`train_fusion`; for inference)."""
        self._adapters.activate_fusion(names)

    def save_fusion(self, path: str | Path, names: list[str]) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._adapters.save_fusion(path, names)
        return path
