"""peft tuners: LoRA, DoRA, IA3, LoHa, LoKr, prefix tuning, prompt tuning."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supportkit.errors import ConfigError, ModelLoadError
from supportkit.models.backends.base import BACKENDS, Backend

if TYPE_CHECKING:
    from supportkit.config import Config
    from supportkit.config.methods import MethodSpec


@BACKENDS.register("peft")
class PeftBackend(Backend):
    def __init__(self, spec: MethodSpec, model: Any, config: Config, adapter_name: str) -> None:
        from peft import get_peft_model

        super().__init__(spec, model, config, adapter_name)
        assert spec.peft_config is not None
        try:
            self.module = get_peft_model(model, spec.peft_config(config), adapter_name=adapter_name)
        except ValueError as exc:  # e.g. target modules that do not exist in this model
            raise ConfigError(f"cannot apply {spec.name!r} to this model: {exc}") from exc

    @property
    def adapter_names(self) -> list[str]:
        return list(self.module.peft_config)

    @property
    def active_adapter(self) -> str:
        return str(self.module.active_adapter)

    def add_adapter(self, name: str, config: Config) -> None:
        assert self.spec.peft_config is not None
        if name in self.adapter_names:
            raise ConfigError(f"an adapter named {name!r} already exists")
        self.module.add_adapter(name, self.spec.peft_config(config))

    def set_adapter(self, name: str) -> None:
        self._require(name)
        self.module.set_adapter(name)

    def delete_adapter(self, name: str) -> None:
        self._require(name)
        if len(self.adapter_names) == 1:
            raise ConfigError("cannot delete the only adapter; load or add another one first")
        if self.module.peft_config[name].is_prompt_learning:
            # peft keeps prompt-learning adapters in dicts rather than injected layers.
            del self.module.peft_config[name]
            self.module.prompt_encoder.pop(name, None)
            if self.active_adapter == name:
                self.module.set_adapter(self.adapter_names[0])
            return
        self.module.delete_adapter(name)

    def save(self, path: Path, name: str) -> None:
        self._require(name)
        # peft writes non-"default" adapters into a sub-folder; write to a scratch dir and flatten.
        scratch = Path(tempfile.mkdtemp(prefix="peft-save-", dir=path.parent))
        try:
            self.module.save_pretrained(scratch, selected_adapters=[name], safe_serialization=True)
            source = scratch if name == "default" else scratch / name
            for item in source.iterdir():
                if item.is_file():
                    shutil.move(str(item), path / item.name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def load(self, path: Path, name: str) -> None:
        from peft import PeftConfig, set_peft_model_state_dict
        from safetensors.torch import load_file

        try:
            saved = PeftConfig.from_pretrained(str(path))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{path} is not a peft adapter directory: {exc}") from exc
        if (
            saved.peft_type.value.lower()
            != self.module.peft_config[self.active_adapter].peft_type.value.lower()
        ):
            raise ModelLoadError(
                f"{path} holds a {saved.peft_type.value} adapter but this model uses "
                f"{self.spec.name!r}; build the model with that method to load it"
            )
        if name in self.adapter_names:
            # Same name: overwrite its weights in place (shapes are checked by torch).
            from peft import get_peft_model_state_dict

            state = load_file(str(path / self.weights_file))
            # Keep the current weights: a file that does not match must leave the adapter as it was.
            kept = {
                k: v.detach().clone()
                for k, v in get_peft_model_state_dict(self.module, adapter_name=name).items()
            }
            result: Any = set_peft_model_state_dict(self.module, state, adapter_name=name)
            if self.module.peft_config[name].is_prompt_learning:
                # peft copies prompt embeddings directly; the key report does not apply to them.
                unexpected = [] if "prompt_embeddings" in state else ["(no prompt_embeddings)"]
                missing = []
            else:
                unexpected = list(result.unexpected_keys)
                missing = [k for k in result.missing_keys if f".{name}." in k]
            if unexpected or missing:
                set_peft_model_state_dict(self.module, kept, adapter_name=name)
                raise ModelLoadError(
                    f"{path} does not match adapter {name!r} "
                    f"(unexpected: {unexpected[:3]}, missing: {missing[:3]})"
                )
        else:
            self.module.load_adapter(str(path), adapter_name=name, is_trainable=True)
        self.module.set_adapter(name)

    def merge_adapter(self) -> None:
        from peft.tuners.tuners_utils import BaseTunerLayer

        # Keep the exact base weights: W + BA - BA is not W in floating point, and a failed merge
        # check must leave the model exactly as it was.
        self._snapshot = {
            f"{name}.{pname}": p.detach().clone()
            for name, module in self.module.named_modules()
            if isinstance(module, BaseTunerLayer)
            for pname, p in module.get_base_layer().named_parameters(recurse=False)
        }
        self.module.merge_adapter()

    def unmerge_adapter(self) -> None:
        import torch

        self.module.unmerge_adapter()
        snapshot = getattr(self, "_snapshot", None)
        if snapshot:
            modules = dict(self.module.named_modules())
            with torch.no_grad():
                for key, value in snapshot.items():
                    name, pname = key.rsplit(".", 1)
                    getattr(modules[name].get_base_layer(), pname).copy_(value)
        self._snapshot = {}

    def merge_and_unload(self) -> Any:
        # The weights are merged already (merge_adapter); unload() only removes the adapter layers.
        self._snapshot = {}
        return self.module.unload()
