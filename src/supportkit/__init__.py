"""supportkit: customer-support assistants from small open language models.

The public API is imported lazily (module ``__getattr__``) so ``supportkit --help`` stays fast::

    from supportkit import Config, LoRAModel
    model = LoRAModel(Config())
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "supportkit.config",
    "LoRAConfig": "supportkit.config",
    "AdapterConfig": "supportkit.config",
    "ModelConfig": "supportkit.config",
    "PromptConfig": "supportkit.config",
    "TrainingConfig": "supportkit.config",
    "DataConfig": "supportkit.config",
    "PEFTConfig": "supportkit.config",
    "GenerationConfig": "supportkit.config",
    "SupportKitError": "supportkit.errors",
    "BaseModel": "supportkit.models.base",
    "LoRAModel": "supportkit.models.lora",
    "AdapterModel": "supportkit.models.adapter",
    "PEFTModel": "supportkit.models.peft",
    "InferencePipeline": "supportkit.pipelines.inference",
    "TrainingPipeline": "supportkit.pipelines.training",
    "DataLoader": "supportkit.data.loader",
    "Request": "supportkit.pipelines.response",
    "Response": "supportkit.pipelines.response",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'supportkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
