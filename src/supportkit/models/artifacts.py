"""What a saved adapter directory holds besides the library's own files.

``supportkit_adapter.json`` records the method, the adapter name, the base model (a loadable
directory) and the sha256 fingerprint of its weights, checked when the adapter is loaded; the
tokenizer and chat template it was trained with are saved beside it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from supportkit import __version__
from supportkit.errors import AdapterMismatchError, ModelLoadError

META_FILE = "supportkit_adapter.json"
FORMAT_VERSION = 1


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
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ModelLoadError(
                f"{directory} was not saved by supportkit (no {META_FILE}); load plain peft "
                "adapters with peft.PeftModel.from_pretrained"
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
