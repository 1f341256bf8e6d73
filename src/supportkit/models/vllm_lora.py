"""What vLLM's ``--lora-modules`` accepts, checked on a peft adapter directory.

vLLM (``vllm/lora/peft_helper.py``, ``vllm/config/lora.py``) serves plain LoRA only: no DoRA, no
``modules_to_save``, no bias, no trained embeddings, and it scales every module by the adapter's one
``lora_alpha / r`` (``rank_pattern``/``alpha_pattern`` would be read wrongly, so they are refused).
A Llama-family model takes LoRA on ``q/k/v/o_proj`` and ``gate/up/down_proj``; ranks above
``--max-lora-rank`` (default 16; one of :data:`VLLM_LORA_RANKS`) need that flag raised.

:func:`check_vllm_lora` reads a directory (no model is loaded) and raises one
:class:`~supportkit.errors.ExportError` listing every problem, so it can guard any place that
hands an adapter to vLLM (``supportkit export``; a server route that loads adapters at run time).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supportkit.errors import ExportError

#: The two files vLLM reads from an adapter directory.
VLLM_LORA_FILES = ("adapter_config.json", "adapter_model.safetensors")
#: vLLM's ``--max-lora-rank`` default.
VLLM_DEFAULT_MAX_LORA_RANK = 16
#: The values ``--max-lora-rank`` may take (vLLM's ``MaxLoRARanks``).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
#: Linear layers vLLM applies LoRA to in Llama-family models (it packs q/k/v and gate/up).
VLLM_LLAMA_LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: peft options whose non-default values vLLM ignores or refuses (value = the accepted default).
_UNSUPPORTED_OPTIONS: dict[str, Any] = {
    "use_dora": False,
    "modules_to_save": None,
    "bias": "none",
    "lora_bias": False,
    "fan_in_fan_out": False,
    "rank_pattern": {},
    "alpha_pattern": {},
    "trainable_token_indices": None,
    "target_parameters": None,
    "layer_replication": None,
}
_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")


@dataclass(frozen=True)
class VllmLora:
    """A directory vLLM can serve as a LoRA module."""

    path: Path
    rank: int
    alpha: float
    target_modules: tuple[str, ...]
    #: The ``--max-lora-rank`` value it needs (``None``: vLLM's default suffices).
    max_lora_rank: int | None

    def serve_command(self, base: str, name: str) -> str:
        """The ``vllm serve`` command line that serves this adapter as model ``name`` on ``base``."""
        parts = ["vllm", "serve", base, "--enable-lora", "--lora-modules", f"{name}={self.path}"]
        if self.max_lora_rank is not None:
            parts += ["--max-lora-rank", str(self.max_lora_rank)]
        return shlex.join(parts)


def needed_max_lora_rank(rank: int) -> int | None:
    """The ``--max-lora-rank`` a rank-``rank`` adapter needs (``None``: the default 16 will do).

    Raises :class:`ExportError` above vLLM's largest allowed rank.
    """
    if rank <= VLLM_DEFAULT_MAX_LORA_RANK:
        return None
    for allowed in VLLM_LORA_RANKS:
        if rank <= allowed:
            return allowed
    raise ExportError(
        f"LoRA rank {rank} is above the largest rank vLLM serves ({VLLM_LORA_RANKS[-1]}); "
        "train with a smaller lora.r or export --format merged"
    )


def check_vllm_lora(directory: str | Path) -> VllmLora:
    """Check that ``directory`` is a LoRA adapter vLLM's ``--lora-modules`` accepts.

    Reads ``adapter_config.json`` and the tensor names/shapes of ``adapter_model.safetensors``.
    Raises :class:`ExportError` naming every problem (files, method, options, modules, weights).
    """
    from safetensors import safe_open

    path = Path(directory)
    missing = [f for f in VLLM_LORA_FILES if not (path / f).is_file()]
    if missing:
        raise ExportError(f"{path} lacks {', '.join(missing)}; vLLM needs {' and '.join(VLLM_LORA_FILES)}")
    config_file = path / VLLM_LORA_FILES[0]
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ExportError(f"{config_file} is not valid JSON: {exc}") from exc
    problems = []
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type != "LORA":
        problems.append(f"it is a {peft_type or 'unknown'} adapter; vLLM serves LoRA adapters only")
    if config.get("use_dora"):
        problems.append("it is DoRA (use_dora); vLLM serves plain LoRA only (no DoRA)")
    for option, default in _UNSUPPORTED_OPTIONS.items():
        if option != "use_dora" and config.get(option, default) not in (default, None, {}, []):
            problems.append(f"{option}={config[option]!r} is not supported by vLLM (needs {default!r})")
    for required in ("r", "lora_alpha", "target_modules"):
        if config.get(required) is None:
            problems.append(f"adapter_config.json has no {required}, which vLLM requires")
    targets = config.get("target_modules") or []
    if isinstance(targets, str):  # a peft regex: vLLM goes by the weights' names, checked below
        targets = []
    # peft matches names by suffix ("all-linear" is saved as full paths): the last part is the layer
    unknown = sorted({str(t).rsplit(".", 1)[-1] for t in targets} - set(VLLM_LLAMA_LORA_MODULES))
    if unknown:
        problems.append(
            f"target modules {', '.join(unknown)} are not LoRA-capable in vLLM; it takes "
            f"{', '.join(VLLM_LLAMA_LORA_MODULES)} (no embeddings or lm_head)"
        )
    try:
        rank = int(config.get("r") or 0)
    except (TypeError, ValueError):
        rank = 0
    weights = path / VLLM_LORA_FILES[1]
    found: set[str] = set()
    try:
        handle = safe_open(str(weights), framework="pt")
    except Exception as exc:  # SafetensorError, OSError
        raise ExportError(f"{weights} is not a readable safetensors file: {exc}") from exc
    with handle:
        for key in handle.keys():  # noqa: SIM118  (safe_open is not a dict)
            match = _KEY.match(key)
            module = match["module"].rsplit(".", 1)[-1] if match else ""
            if not match or module not in VLLM_LLAMA_LORA_MODULES:
                problems.append(
                    f"{weights.name} holds {key}, which vLLM cannot load (extra/embedding weights)"
                )
                continue
            found.add(module)
            shape = handle.get_slice(key).get_shape()
            got = shape[0] if match["part"] == "A" else shape[1]
            if got != rank:
                problems.append(f"{key} has rank {got}, but adapter_config.json says r={rank}")
    if rank < 1:
        problems.append(f"r={config.get('r')!r} must be a positive rank")
    if not found:
        problems.append(f"{weights.name} holds no LoRA weights")
    if problems:
        raise ExportError(f"{path} cannot be served by vLLM: " + "; ".join(problems[:8]))
    return VllmLora(
        path=path.resolve(),
        rank=rank,
        alpha=float(config.get("lora_alpha") or rank),
        target_modules=tuple(sorted(found)),
        max_lora_rank=needed_max_lora_rank(rank),
    )
