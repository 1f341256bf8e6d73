"""Where supportkit keeps its caches (converted models, embedding indexes, few-shot banks)."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that moves every cache.
CACHE_ENV = "SUPPORTKIT_CACHE_DIR"


def cache_root() -> Path:
    """``$SUPPORTKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/supportkit``, else ``~/.cache/supportkit``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "supportkit"
