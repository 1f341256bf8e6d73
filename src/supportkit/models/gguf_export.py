"""llama.cpp's GGUF: a merged Llama model (f16/f32) or a LoRA adapter, written and read back.

    write_gguf_model(model, tokenizer, "support.gguf", dtype="f16")       # llama-cli -m support.gguf
    write_gguf_lora(lora_config, lora_state, model_config, "billing.gguf")  # ... --lora billing.gguf
    weights = read_gguf_model("support.gguf", model_config)  # {HF name: tensor}, HF layout

Files are written with the ``gguf`` package's :class:`gguf.GGUFWriter`, named with its
``TensorNameMap`` (``model.layers.3.self_attn.q_proj.weight`` -> ``blk.3.attn_q.weight``).

**The q/k permutation.** llama.cpp applies rotary embeddings to interleaved pairs, transformers to
two halves, so ``convert_hf_to_gguf.py`` permutes the rows of ``q_proj`` and ``k_proj`` (per head,
``(heads, 2, d/2) -> (heads, d/2, 2)``; ``k`` with the KV heads). A LoRA delta ``B @ A`` is a change of
the same weight, so its ``B`` (the rows side) is permuted the same way; ``A`` is not. An export
without it loads and runs, but answers wrongly. :func:`read_gguf_model` / :func:`read_gguf_lora`
undo the permutation, so the files can be compared with the HF weights they came from.

A LoRA adapter GGUF has ``general.type=adapter``, ``adapter.type=lora``, ``adapter.lora.alpha`` and
tensors ``<base tensor>.lora_a`` (``r x in``) / ``.lora_b`` (``out x r``); llama.cpp scales each
module by ``alpha / r`` (an rsLoRA adapter is written with ``alpha * sqrt(r)``, which it equals).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supportkit.errors import ExportError, ModelLoadError

#: The weight precisions a merged GGUF is written in (1-D norm weights are always f32, as llama.cpp).
GGUF_DTYPES = ("f16", "f32")
ARCH = "llama"
#: A LoRA adapter's peft key -> HF module name.
_PEFT_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")


@dataclass(frozen=True)
class TensorCheck:
    """A GGUF read back by ``target`` and compared tensor by tensor with the HF weights it came from."""

    target: str
    max_abs_diff: float
    atol: float
    tensors: int

    @property
    def passed(self) -> bool:
        return self.tensors > 0 and self.max_abs_diff <= self.atol

    def format(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        return (
            f"{self.target}: {self.tensors} tensors, max |diff| {self.max_abs_diff:.1e} "
            f"(atol {self.atol:g}): {verdict}"
        )


def _gguf() -> Any:
    try:
        import gguf
    except ImportError as exc:  # a core dependency; only a broken install lacks it
        raise ExportError("GGUF export needs the gguf package: pip install gguf") from exc
    return gguf


def check_llama_config(config: Any) -> None:
    """Raise :class:`ExportError` unless ``config`` (a transformers config) is a plain Llama."""
    problems = []
    if getattr(config, "model_type", None) != "llama":
        problems.append(f"model_type is {getattr(config, 'model_type', None)!r}, not 'llama'")
    if getattr(config, "rope_scaling", None):
        problems.append(f"rope_scaling {config.rope_scaling!r} is not written (plain RoPE only)")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        problems.append("attention/MLP biases are not written")
    if problems:
        raise ExportError(
            "GGUF export supports Llama-family models such as the bundled SmolLM2: "
            + "; ".join(problems)
            + "; export --format merged and convert it with llama.cpp's convert_hf_to_gguf.py"
        )


def _heads(config: Any) -> tuple[int, int]:
    heads = int(config.num_attention_heads)
    return heads, int(getattr(config, "num_key_value_heads", None) or heads)


def permute_qk(weights: Any, n_head: int) -> Any:
    """HF -> llama.cpp rope layout of ``q_proj``/``k_proj`` rows (or a LoRA ``B``): ``(out, ...)``.

    ``n_head`` is the attention heads for q, the KV heads for k (llama.cpp's ``LlamaModel.permute``).
    """
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def unpermute_qk(weights: Any, n_head: int) -> Any:
    """The inverse of :func:`permute_qk` (llama.cpp rope layout -> HF)."""
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, rows // n_head // 2, 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _qk_heads(gguf_name: str, config: Any) -> int | None:
    """How many heads to (un)permute a tensor's rows by: q -> heads, k -> KV heads, else None."""
    heads, kv_heads = _heads(config)
    if ".attn_q." in gguf_name:
        return heads
    if ".attn_k." in gguf_name:
        return kv_heads
    return None


@functools.lru_cache(maxsize=4)
def _name_map(n_blocks: int) -> Any:
    gguf = _gguf()
    return gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_blocks)


def gguf_name(hf_name: str, config: Any) -> str:
    """``model.layers.0.self_attn.q_proj.weight`` -> ``blk.0.attn_q.weight``; ExportError if unknown."""
    name = _name_map(int(config.num_hidden_layers)).get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if name is None:
        raise ExportError(f"{hf_name} has no llama.cpp tensor name; it cannot be written to a GGUF")
    return str(name)


# --- tokenizer -----------------------------------------------------------------------------------
def _tokenizer_pre(tokens: list[str]) -> str:
    """llama.cpp's pre-tokenizer name: the bundled GGUF's when its vocabulary is this one, else 'default'."""
    for vocabulary, pre in _bundled_vocabularies():
        if len(vocabulary) == len(tokens) and list(vocabulary) == tokens:
            return pre
    return "default"


@functools.lru_cache(maxsize=1)
def _bundled_vocabularies() -> list[tuple[tuple[str, ...], str]]:
    """(token list, ``tokenizer.ggml.pre``) of each installed bundled GGUF (read once: seconds)."""
    from supportkit.models.gguf_cache import BUNDLED_MODELS, find_bundled_gguf

    gguf = _gguf()
    found = []
    for name in BUNDLED_MODELS:
        try:
            reader = gguf.GGUFReader(str(find_bundled_gguf(name)))
        except (ModelLoadError, OSError, ValueError):  # not installed or unreadable: no reference
            continue
        tokens, pre = reader.fields.get("tokenizer.ggml.tokens"), reader.fields.get("tokenizer.ggml.pre")
        if tokens is not None and pre is not None:
            found.append((tuple(tokens.contents()), str(pre.contents())))
    return found


def _add_tokenizer(writer: Any, tokenizer: Any, n_vocab: int) -> None:
    """The HF tokenizer's byte-level BPE vocabulary, merges, special ids and chat template."""
    gguf = _gguf()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    spec = json.loads(backend.to_str()) if backend is not None else {}
    model = spec.get("model", {})
    # byte-level BPE: the pre-tokenizer maps bytes to GPT-2's printable characters
    if model.get("type") != "BPE" or '"ByteLevel"' not in json.dumps(spec.get("pre_tokenizer")):
        raise ExportError(
            "GGUF export writes byte-level BPE (GPT-2 style) tokenizers such as SmolLM2's; this tokenizer "
            "is not one: export --format merged and convert it with llama.cpp's convert_hf_to_gguf.py"
        )
    size = len(tokenizer)  # computed on each call
    if size > n_vocab:
        raise ExportError(f"the tokenizer has {size} tokens but the model only {n_vocab} embeddings")
    added = {t["id"]: t for t in spec.get("added_tokens", [])}
    tokens, types = [], []
    for i in range(n_vocab):
        if i >= size:  # embedding rows beyond the vocabulary, as convert_hf_to_gguf names them
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        tokens.append(tokenizer.convert_ids_to_tokens(i))
        if i in added:
            types.append(gguf.TokenType.CONTROL if added[i].get("special") else gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_tokenizer_pre(tokens))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for kind, token_id in (
        ("bos", tokenizer.bos_token_id),
        ("eos", tokenizer.eos_token_id),
        ("unk", tokenizer.unk_token_id),
        ("pad", tokenizer.pad_token_id),
    ):
        if token_id is not None:
            getattr(writer, f"add_{kind}_token_id")(int(token_id))
    writer.add_add_bos_token(bool(getattr(tokenizer, "add_bos_token", False)))
    writer.add_add_space_prefix(False)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)


# --- writers -------------------------------------------------------------------------------------
def _write(writer: Any) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_gguf_model(
    model: Any, tokenizer: Any, path: str | Path, *, dtype: str = "f16", name: str = "supportkit"
) -> list[str]:
    """Write ``model`` (a plain transformers Llama, adapters merged) as a llama.cpp GGUF at ``path``.

    2-D weights in ``dtype`` (:data:`GGUF_DTYPES`), norms in f32, q/k rows permuted to llama.cpp's
    rope layout, a tied ``lm_head`` left out (llama.cpp reuses ``token_embd``). Returns the tensor
    names written. Raises :class:`ExportError` for a non-Llama model or a non-BPE tokenizer.
    """
    import numpy as np

    if dtype not in GGUF_DTYPES:
        raise ExportError(f"unknown GGUF dtype {dtype!r}; choose one of {', '.join(GGUF_DTYPES)}")
    gguf = _gguf()
    config = model.config
    check_llama_config(config)
    heads, kv_heads = _heads(config)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    n_vocab = int(config.vocab_size)
    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(getattr(config, "rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)
    _add_tokenizer(writer, tokenizer, n_vocab)
    names = []
    tied = bool(getattr(config, "tie_word_embeddings", False))
    for hf_name, tensor in model.state_dict().items():
        if hf_name.endswith("rotary_emb.inv_freq") or (tied and hf_name == "lm_head.weight"):
            continue
        target = gguf_name(hf_name, config)
        data = tensor.detach().float().cpu().numpy()
        n = _qk_heads(target, config)
        if n is not None:
            data = permute_qk(data, n)
        data = data.astype(np.float16 if dtype == "f16" and data.ndim > 1 else np.float32)
        writer.add_tensor(target, np.ascontiguousarray(data))
        names.append(target)
    _write(writer)
    return names


def write_gguf_lora(
    lora_config: Mapping[str, Any],
    state: Mapping[str, Any],
    model_config: Any,
    path: str | Path,
    *,
    name: str = "supportkit-lora",
) -> list[str]:
    """Write a peft LoRA (``adapter_config.json`` dict + ``adapter_model.safetensors`` state) as a
    llama.cpp GGUF LoRA adapter for the Llama described by ``model_config`` (its heads permute ``B``).

    Tensors in f32. Returns the tensor names written; raises :class:`ExportError` for weights that
    are not per-module LoRA ``A``/``B`` pairs.
    """
    import numpy as np

    gguf = _gguf()
    check_llama_config(model_config)
    r = int(lora_config["r"])
    alpha = float(lora_config["lora_alpha"])
    if lora_config.get("use_rslora"):
        alpha *= math.sqrt(r)  # llama.cpp scales by alpha / r; rsLoRA means alpha / sqrt(r)
    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_name(name)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    names = []
    for key in sorted(state):
        match = _PEFT_KEY.match(key)
        if match is None:
            raise ExportError(f"{key} is not a LoRA A/B weight; a GGUF LoRA holds only those")
        target = gguf_name(match["module"] + ".weight", model_config)
        data = state[key].detach().float().cpu().numpy()
        n = _qk_heads(target, model_config)
        if match["part"] == "B" and n is not None:
            data = permute_qk(data, n)  # B carries the rows of the q/k weight
        suffix = ".lora_a" if match["part"] == "A" else ".lora_b"
        writer.add_tensor(target + suffix, np.ascontiguousarray(data.astype(np.float32)))
        names.append(target + suffix)
    if not names:
        raise ExportError("the adapter holds no LoRA weights")
    _write(writer)
    return names


# --- readers -------------------------------------------------------------------------------------
def _read_tensors(path: str | Path) -> tuple[Any, dict[str, Any]]:
    import numpy as np

    reader = _gguf().GGUFReader(str(path))
    return reader, {t.name: np.array(t.data).reshape(t.data.shape) for t in reader.tensors}


def read_gguf_model(path: str | Path, model_config: Any) -> dict[str, Any]:
    """The tensors of a llama GGUF written by :func:`write_gguf_model`, by HF name, in HF layout
    (q/k un-permuted), as float32 torch tensors. Tensors it cannot name raise :class:`ExportError`.
    """
    import torch

    names = _hf_names(model_config, ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"))
    _, tensors = _read_tensors(path)
    out = {}
    for name, data in tensors.items():
        if name not in names:
            raise ExportError(f"{path} holds {name}, which is not a Llama weight")
        n = _qk_heads(name, model_config)
        out[names[name]] = torch.from_numpy(unpermute_qk(data, n) if n is not None else data).float()
    return out


def _hf_names(config: Any, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """{GGUF name: HF name} of every Llama weight (per layer, plus ``extra``)."""
    layers = [
        f"model.layers.{i}.{part}" for i in range(int(config.num_hidden_layers)) for part in _LAYER_PARTS
    ]
    return {gguf_name(hf, config): hf for hf in (*layers, *extra)}


_LAYER_PARTS = (
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
    "input_layernorm.weight",
    "post_attention_layernorm.weight",
)


def read_gguf_lora(path: str | Path, model_config: Any) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]]]:
    """A GGUF LoRA's metadata (``general.type``, ``adapter.type``, ``adapter.lora.alpha``) and its
    ``{HF weight name: (A, B)}`` with ``B`` un-permuted back to HF layout (float32 torch tensors)."""
    import torch

    reader, tensors = _read_tensors(path)
    meta = {}
    for key in ("general.type", "general.architecture", "adapter.type", "adapter.lora.alpha"):
        field = reader.fields.get(key)
        meta[key] = None if field is None else field.contents()
    names = _hf_names(model_config)
    pairs: dict[str, tuple[Any, Any]] = {}
    for name, data in tensors.items():
        base, _, part = name.rpartition(".")
        if part not in ("lora_a", "lora_b") or base not in names:
            raise ExportError(f"{path} holds {name}, which is not a LoRA tensor of a Llama weight")
        n = _qk_heads(base, model_config)
        if part == "lora_b" and n is not None:
            data = unpermute_qk(data, n)
        a, b = pairs.get(names[base], (None, None))
        tensor = torch.from_numpy(data).float()
        pairs[names[base]] = (tensor, b) if part == "lora_a" else (a, tensor)
    return meta, pairs
