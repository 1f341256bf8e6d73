"""Load a base model and its tokenizer: a hub id, a local directory, or the bundled GGUF.

Weights are only ever read from safetensors (``use_safetensors=True``): pickled ``.bin`` weights
are refused. ``trust_remote_code`` stays off unless the config turns it on.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supportkit.errors import ModelLoadError
from supportkit.models.device import resolve_device, resolve_dtype
from supportkit.models.gguf_cache import bundled_model_dir, read_meta
from supportkit.models.precision import apply_threads
from supportkit.models.tokenizer import choose_pad_token, fix_tokenizer
from supportkit.utils.hashing import fingerprint_weights

log = logging.getLogger(__name__)

BUNDLED_PREFIX = "bundled:"


@dataclass
class LoadedBase:
    """A loaded base model with what adapters need to record about it."""

    model: Any
    tokenizer: Any
    #: Local directory the weights came from (the converted cache for the bundled model).
    model_dir: Path
    name_or_path: str

    @property
    def fingerprint(self) -> str:
        """sha256 of the base weights files (stored at conversion for the bundled model)."""
        return dir_fingerprint(self.model_dir)


def dir_fingerprint(model_dir: Path) -> str:
    """sha256 of a model directory's weights (the bundled cache records it at conversion)."""
    meta = read_meta(model_dir)
    if meta and isinstance(meta.get("fingerprint"), str):
        return str(meta["fingerprint"])
    return fingerprint_weights(model_dir)


def local_fingerprint(name_or_path: str) -> str | None:
    """The fingerprint of a bundled model or a local model directory, without loading the model;
    ``None`` for a hub id (known only once downloaded)."""
    if name_or_path.startswith(BUNDLED_PREFIX):
        return dir_fingerprint(bundled_model_dir(name_or_path[len(BUNDLED_PREFIX) :]))
    path = Path(name_or_path).expanduser()
    return dir_fingerprint(path) if path.is_dir() else None


def resolve_model_dir(name_or_path: str, *, revision: str | None = None) -> Path:
    """Map a model reference to a local directory (converting or downloading as needed)."""
    if name_or_path.startswith(BUNDLED_PREFIX):
        return bundled_model_dir(name_or_path[len(BUNDLED_PREFIX) :])
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists() or name_or_path.startswith((".", "/", "~")):
        raise ModelLoadError(f"model path {name_or_path!r} is not a model directory")
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                repo_id=name_or_path,
                revision=revision,
                allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"],
            )
        )
    except Exception as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = (
            " (HF_HUB_OFFLINE=1 is set: only models already in the local hub cache can load;"
            " pass a local directory or the default bundled:smollm2-135m-instruct)"
            if offline
            else ""
        )
        raise ModelLoadError(
            f"could not find model {name_or_path!r} as a local directory or on the hub{hint}: {exc}"
        ) from exc


def load_tokenizer(model_dir: str | Path, *, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=trust_remote_code)
    except (OSError, ValueError, ImportError) as exc:
        raise ModelLoadError(f"could not load a tokenizer from {model_dir}: {exc}") from exc
    if tokenizer.pad_token is None or tokenizer.pad_token == tokenizer.eos_token:
        # Pad with an existing unused special token; never resize the vocabulary.
        fix_tokenizer(tokenizer, pad_token=choose_pad_token(tokenizer))
    return tokenizer


def load_base(
    name_or_path: str,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    trust_remote_code: bool = False,
    revision: str | None = None,
    threads: int | None = None,
) -> LoadedBase:
    """Load model + tokenizer, in eval mode, on ``device``.

    ``threads``: torch intra-op threads (``None``: the cores available to this process)."""
    from transformers import AutoModelForCausalLM

    model_dir = resolve_model_dir(name_or_path, revision=revision)
    if not any(Path(model_dir).glob("*.safetensors")):
        pickled = sorted(p.name for p in Path(model_dir).glob("*.bin"))
        found = f" (found pickled {', '.join(pickled)}: refused)" if pickled else ""
        raise ModelLoadError(
            f"no *.safetensors weights in {model_dir}{found}; supportkit loads safetensors only. "
            "Convert with transformers: model.save_pretrained(dir, safe_serialization=True)"
        )
    tokenizer = load_tokenizer(model_dir, trust_remote_code=trust_remote_code)
    torch_device = resolve_device(device)
    if torch_device.type == "cpu":
        apply_threads(threads)
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(
            str(model_dir),
            dtype=resolve_dtype(dtype, torch_device, model_dir),
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"could not load model weights from {model_dir} (safetensors only): {exc}"
        ) from exc
    if model.config.pad_token_id is None or model.config.pad_token_id != tokenizer.pad_token_id:
        model.config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.to(torch_device)
    model.eval()
    return LoadedBase(model=model, tokenizer=tokenizer, model_dir=Path(model_dir), name_or_path=name_or_path)
