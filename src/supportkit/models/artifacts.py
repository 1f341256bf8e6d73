"""What a saved adapter directory holds besides the library's own files.

``supportkit_adapter.json`` records the method, the adapter name, the base model (a loadable
directory) and the sha256 fingerprint of its weights, checked when the adapter is loaded; the
tokenizer and chat template it was trained with are saved beside it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from supportkit import __version__
from supportkit.config import Config
from supportkit.errors import AdapterMismatchError, ConfigError, ModelLoadError

log = logging.getLogger(__name__)

META_FILE = "supportkit_adapter.json"
FORMAT_VERSION = 1
#: Config sections that shape the adapter's weights: the only ones taken from a saved adapter.
SHAPE_SECTIONS = ("peft", "lora", "adapter")
#: Never taken from an adapter's files: they run code (``trust_remote_code``) or choose what is loaded.
TRUSTED_MODEL_FIELDS = ("trust_remote_code", "revision")
#: Pickled weights: never loaded (only ``*.safetensors`` are).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


@dataclass
class AdapterMeta:
    method: str
    adapter_name: str
    base_model: str
    base_model_dir: str
    base_fingerprint: str
    config: dict[str, Any] = field(default_factory=dict)
    supportkit_version: str = __version__
    format_version: int = FORMAT_VERSION

    def write(self, directory: Path) -> None:
        (directory / META_FILE).write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def read(cls, directory: Path) -> AdapterMeta:
        path = directory / META_FILE
        if not directory.is_dir():
            raise ModelLoadError(
                f"no adapter at {directory}: "
                + (
                    "it is a file, not an adapter folder"
                    if directory.exists()
                    else "the folder does not exist"
                )
                + " (save one with model.save_model(PATH) or `supportkit train`, or check the path)"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            if (directory / "adapter_config.json").is_file():
                raise ModelLoadError(
                    f"{directory} holds a peft adapter not saved by supportkit (no {META_FILE}); load "
                    "it with peft.PeftModel.from_pretrained, or save it again with model.save_model"
                ) from exc
            raise ModelLoadError(
                f"no adapter at {directory}: the folder has no {META_FILE} (save one with "
                "model.save_model(PATH) or `supportkit train`, or check the path)"
            ) from exc
        except ValueError as exc:
            raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def check_base(self, fingerprint: str, base_name: str, *, force: bool = False) -> None:
        if self.base_fingerprint == fingerprint or force:
            return
        raise AdapterMismatchError(
            f"this adapter was trained on base {self.base_model!r} (weights sha256 "
            f"{self.base_fingerprint[:12]}…) but the model it is loaded onto is {base_name!r} "
            f"({fingerprint[:12]}…). Load it onto the same base model (model.name_or_path="
            f"{self.base_model_dir}), or pass force=True if you know they are compatible."
        )


def adapter_config(meta: AdapterMeta, directory: Path, caller: Config | None) -> Config:
    """The config to rebuild a saved adapter's model with.

    Only the sections that shape the weights (:data:`SHAPE_SECTIONS`) come from the adapter's
    ``supportkit_adapter.json``; everything else is the caller's. ``trust_remote_code`` and
    ``revision`` are *always* the caller's (``Config()`` defaults: off), whatever the file says,
    so a crafted adapter directory cannot run code. Without a caller config, the recorded base
    directory is where the base is loaded from (safetensors only, no remote code; its weights
    are then checked against the recorded fingerprint). Differences are logged as warnings.
    """
    try:
        recorded = Config.from_dict(meta.config)
    except ConfigError as exc:
        raise ModelLoadError(f"{directory / META_FILE}: the recorded config is invalid: {exc}") from exc
    config = Config.from_dict(caller.to_dict()) if caller is not None else Config()
    if caller is None:
        config.model.name_or_path = recorded.model.name_or_path
    for name in SHAPE_SECTIONS:
        setattr(config, name, getattr(recorded, name))
    for name in ("name_or_path", *TRUSTED_MODEL_FIELDS):
        mine, theirs = getattr(config.model, name), getattr(recorded.model, name)
        if mine != theirs:
            log.warning(
                "%s records model.%s=%r; using %r from the caller's config (an adapter's files never "
                "decide this)",
                directory / META_FILE,
                name,
                theirs,
                mine,
            )
    return config


def check_weights(directory: Path, weights_file: str) -> Path:
    """The adapter's safetensors weights, readable; else :class:`ModelLoadError` naming the file.

    Pickled weights (``.bin``, ``.pt``, ...) are refused: they can run code when loaded.
    """
    from safetensors import safe_open

    path = directory / weights_file
    if not path.is_file():
        pickled = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
        hint = f"; found pickled {', '.join(pickled)}, which supportkit never loads" if pickled else ""
        raise ModelLoadError(f"{path} does not exist{hint}; adapters are loaded from safetensors only")
    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except Exception as exc:  # SafetensorError, OSError: truncated or not safetensors at all
        raise ModelLoadError(f"{path} is not a readable safetensors file: {exc}") from exc
    return path
