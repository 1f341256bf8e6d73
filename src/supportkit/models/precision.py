"""CPU precision and threads: native bf16 detection, the recorded quality gate, ``torch`` thread count.

``model.dtype: auto`` picks bfloat16 on a CPU only when both hold:

* the CPU has native bf16 matrix instructions (``avx512_bf16`` or ``amx_bf16`` in ``/proc/cpuinfo``;
  without them bf16 matrix products are emulated and several times slower than fp32);
* the quality gate (``benchmarks/bench_quality_gate.py``) passed for this model: its result is
  the JSON file :data:`GATE_FILE` in the model directory, or, for a model whose weights fingerprint
  (``supportkit.json`` of a converted model) is in :data:`SHIPPED_GATES`, the verdict recorded with
  this package (the bundled model's, measured on a native-bf16 CPU; BENCHMARKS.md "Quality gate").
  A local result always wins over the shipped one.

Otherwise auto is float32 and the log says why.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Written by the quality gate into the model directory: ``{"bfloat16": {"passed": bool, ...}}``.
GATE_FILE = "supportkit-quality-gate.json"
#: Gate results shipped with the package, ``{weights fingerprint: {dtype: result}}``.
SHIPPED_GATES = Path(__file__).with_name("quality_gates.json")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags of the first processor (empty when unknown, e.g. not Linux)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True when the CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX-BF16)."""
    return bool(cpu_flags(cpuinfo) & {"avx512_bf16", "amx_bf16"})


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_gate(model_dir: str | Path | None, shipped: str | Path = SHIPPED_GATES) -> dict[str, Any]:
    """The gate results of the model in ``model_dir``: its shipped ones (by weights fingerprint),
    updated with the ones recorded in the directory (``{}`` when there are none)."""
    if model_dir is None:
        return {}
    from supportkit.models.gguf_cache import read_meta

    fingerprint = (read_meta(Path(model_dir)) or {}).get("fingerprint")
    known = _json(Path(shipped)).get(fingerprint, {}) if isinstance(fingerprint, str) else {}
    return {**(known if isinstance(known, dict) else {}), **_json(Path(model_dir) / GATE_FILE)}


def write_gate(model_dir: str | Path, dtype: str, result: dict[str, Any]) -> Path:
    """Record the gate ``result`` (must hold ``passed``) for ``dtype`` in ``model_dir``."""
    if not isinstance(result.get("passed"), bool):
        raise ValueError("a gate result needs 'passed': true or false")
    data = _json(Path(model_dir) / GATE_FILE)
    data[dtype] = result
    path = Path(model_dir) / GATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)
    return path


def auto_cpu_dtype(model_dir: str | Path | None, cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """``bfloat16`` when the CPU has native bf16 and the gate passed for this model, else ``float32``."""
    if not cpu_has_native_bf16(cpuinfo):
        log.info("model.dtype auto: float32 (this CPU has no native bf16: avx512_bf16/amx_bf16)")
        return "float32"
    gate = read_gate(model_dir).get("bfloat16", {})
    if gate.get("passed") is not True:
        why = "failed" if gate else "has not been run"
        log.info(
            "model.dtype auto: float32 (the bf16 quality gate %s for this model; "
            "run benchmarks/bench_quality_gate.py)",
            why,
        )
        return "float32"
    log.info("model.dtype auto: bfloat16 (native bf16 CPU, quality gate passed)")
    return "bfloat16"


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count`` where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def apply_threads(threads: int | None) -> int:
    """Set torch's intra-op threads to ``threads`` (``None``: :func:`available_cores`); returns it."""
    import torch

    n = threads or available_cores()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        log.info("OMP_WAIT_POLICY is not PASSIVE: spinning OpenMP threads slow decoding on a shared machine")
    return n
