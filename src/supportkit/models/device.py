"""Device and dtype resolution: CPU by default, CUDA when present and asked for."""

from __future__ import annotations

from typing import Any

from supportkit.errors import ConfigError


def resolve_device(spec: str) -> Any:
    """``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` | ``auto`` -> ``torch.device``."""
    import torch

    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"model.device = {spec!r} but CUDA is not available here; use model.device=cpu (or auto)"
            )
        index = int(spec.split(":", 1)[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"model.device = {spec!r} but only {torch.cuda.device_count()} GPU(s) are visible"
            )
    if spec == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("model.device = 'mps' but MPS is not available; use cpu")
    return torch.device(spec)


def resolve_dtype(spec: str, device: Any, model_dir: Any = None) -> Any:
    """``float32`` | ``bfloat16`` | ``float16`` | ``auto``.

    ``auto``: bf16 on capable GPUs; on a CPU bf16 only with native bf16 instructions and a passed
    quality gate for the model in ``model_dir`` (:mod:`supportkit.models.precision`), else fp32."""
    import torch

    if spec == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if device.type == "cpu":
            from supportkit.models.precision import auto_cpu_dtype

            spec = auto_cpu_dtype(model_dir)
        else:
            return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[spec]
