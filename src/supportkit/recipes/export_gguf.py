"""The GGUF formats of ``supportkit export``: a merged model or a LoRA adapter for llama.cpp.

* ``gguf``: the adapter folded in by the verified ``merge()``, written as one llama GGUF (weights in
  f16 or f32, tokenizer and chat template inside); read back with ``gguf.GGUFReader``, q/k
  un-permuted, every tensor must equal the merged weight in the file's precision.
* ``gguf-lora``: a plain LoRA adapter as a llama.cpp LoRA GGUF (``--lora``), applied on the base
  GGUF (the bundled model's own file when the adapter was trained on it); read back, ``B`` of q/k
  un-permuted, ``W + alpha/r * B A`` must equal the merged weights, and the model folded that way
  must reproduce the adapter model's logits and greedy tokens.

The writers and readers live in :mod:`supportkit.models.gguf_export`; the directory handling and
the reference outputs in :mod:`supportkit.recipes.export`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from supportkit.errors import ExportError, ModelLoadError
from supportkit.models.gguf_cache import BUNDLED_MODELS, find_bundled_gguf, read_meta
from supportkit.models.gguf_export import (
    TensorCheck,
    read_gguf_lora,
    read_gguf_model,
    write_gguf_lora,
    write_gguf_model,
)
from supportkit.models.vllm_lora import VLLM_LORA_FILES, check_vllm_lora


def base_gguf(base_dir: str | Path) -> Path | None:
    """The GGUF a base directory was converted from (the bundled model's file), if known."""
    meta = read_meta(Path(base_dir)) or {}
    for name, spec in BUNDLED_MODELS.items():
        if meta.get("source") == spec.filename:
            try:
                return find_bundled_gguf(name)
            except ModelLoadError:  # the package was removed since the conversion
                return None
    return None


def write_gguf(
    model: Any, tmp: Path, out: Path, name: str, dtype: str, *, verify: bool = True
) -> tuple[str, list[str], list[Any]]:
    """Merge ``model`` (a :class:`PEFTModel`), write ``tmp/<name>.gguf``; with ``verify`` read it back
    and compare. Returns (serve command, notes, checks)."""
    if model.spec.backend != "full":
        model.merge()  # checks merged vs unmerged logits on a probe batch; MergeError otherwise
    filename = f"{name}.gguf"
    write_gguf_model(model.model, model.tokenizer, tmp / filename, dtype=dtype, name=name)
    checks = [_check_gguf_model(tmp / filename, model.model, dtype)] if verify else []
    path = out.resolve() / filename
    served = shlex.join(["llama-server", "-m", str(path), "--alias", name])
    notes = [
        f"{model.method} folded into the base weights; {dtype} weights, tokenizer and chat template inside",
        f"chat in a terminal: {shlex.join(['llama-cli', '-m', str(path), '-cnv'])}; smaller and faster: "
        f"{shlex.join(['llama-quantize', str(path), str(path.with_name(f'{name}-Q4_K_M.gguf')), 'Q4_K_M'])}",
    ]
    return served, notes, checks


def _check_gguf_model(path: Path, module: Any, dtype: str) -> TensorCheck:
    """Every tensor of the GGUF, q/k un-permuted, vs ``module``'s weight rounded to the file's precision."""
    import torch

    expected = module.state_dict()
    back = read_gguf_model(path, module.config)
    diff = 0.0
    for key, got in back.items():
        want = expected[key].detach().float().cpu()
        if dtype == "f16" and want.ndim > 1:
            want = want.to(torch.float16).float()
        diff = max(diff, float((got - want).abs().max()) if got.shape == want.shape else float("inf"))
    missing = sorted(k for k in expected if k not in back and k != "lm_head.weight")
    if missing:
        raise ExportError(f"the GGUF lacks {', '.join(missing[:3])}")
    target = f"gguf GGUFReader, q/k un-permuted, vs the merged weights in {dtype}"
    return TensorCheck(target, diff, 0.0, len(back))


def write_gguf_adapter(
    adapter: Path,
    tmp: Path,
    out: Path,
    name: str,
    base_dir: str | Path,
    model: Any | None = None,
    reference: Sequence[tuple[Any, Any]] = (),
) -> tuple[str, list[str], list[Any]]:
    """Write the LoRA in ``adapter`` as ``tmp/<name>-lora.gguf``; with ``model`` (the loaded adapter
    model) and its ``reference`` outputs, read it back and compare. Returns (serve command, notes,
    checks)."""
    from safetensors.torch import load_file
    from transformers import AutoConfig

    try:
        check_vllm_lora(adapter)  # the same plain-LoRA rules: one alpha/r, no DoRA, bias or extra weights
    except ExportError as exc:
        raise ExportError(f"llama.cpp's GGUF LoRA takes plain LoRA adapters only: {exc}") from exc
    config = json.loads((adapter / VLLM_LORA_FILES[0]).read_text(encoding="utf-8"))
    state = load_file(str(adapter / VLLM_LORA_FILES[1]))
    model_config = model.model.config if model is not None else AutoConfig.from_pretrained(base_dir)
    filename = f"{name}-lora.gguf"
    write_gguf_lora(config, state, model_config, tmp / filename, name=name)
    checks: list[Any] = []
    if model is not None:
        checks = _check_gguf_lora(tmp / filename, model, base_dir, reference)
    base = base_gguf(base_dir)
    path = out.resolve() / filename
    served = shlex.join(
        ["llama-server", "-m", str(base or "BASE.gguf"), "--lora", str(path), "--alias", name]
    )
    notes = [f"LoRA rank {config['r']}, alpha {config['lora_alpha']} on {len(state) // 2} modules"]
    if base is None:
        notes.append(
            f"BASE.gguf: the base model ({base_dir}) as a GGUF, e.g. from llama.cpp's convert_hf_to_gguf.py"
        )
    return served, notes, checks


def _check_gguf_lora(
    path: Path, model: Any, base_dir: str | Path, reference: Sequence[tuple[Any, Any]]
) -> list[Any]:
    """``W + alpha/r * B A`` from the GGUF (B un-permuted) vs the adapter model merged."""
    import torch
    from transformers import AutoModelForCausalLM

    from supportkit.recipes.export import compare_outputs

    meta, pairs = read_gguf_lora(path, model.model.config)
    if (meta["general.type"], meta["adapter.type"]) != ("adapter", "lora"):
        raise ExportError(f"{path.name} is not marked as a LoRA adapter: {meta}")
    parameter = next(model.model.parameters())
    base = AutoModelForCausalLM.from_pretrained(
        base_dir, use_safetensors=True, trust_remote_code=False, dtype=parameter.dtype
    ).eval()
    alpha = float(meta["adapter.lora.alpha"])
    with torch.no_grad():
        for key, (a, b) in pairs.items():
            if a is None or b is None:
                raise ExportError(f"{path.name} has only one of lora_a / lora_b for {key}")
            weight = base.get_submodule(key.removesuffix(".weight")).weight
            weight += (alpha / a.shape[0] * (b @ a)).to(weight.dtype)
    logits = compare_outputs(
        "llama.cpp's reading of the GGUF LoRA (W + alpha/r * B A)", base, model.tokenizer, reference
    )
    model.merge()
    merged = model.model.state_dict()
    diff = max(float((base.get_parameter(k).detach() - merged[k]).abs().max()) for k in pairs)
    atol = 1e-5 if parameter.dtype == torch.float32 else 1e-2
    target = "gguf GGUFReader, B of q/k un-permuted: W + alpha/r * B A vs the merged weights"
    return [TensorCheck(target, diff, atol, len(pairs)), logits]
