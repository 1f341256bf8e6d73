"""How the model is loaded and made trainable.

Imports are lazy so that importing the package (e.g. for config validation) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_base": "supportkit.models.loading",
    "LoadedBase": "supportkit.models.loading",
    "encode_untrusted": "supportkit.models.tokenizer",
    "encode_chat": "supportkit.models.tokenizer",
    "render_chat": "supportkit.models.tokenizer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'supportkit.models' has no attribute {name!r}")
