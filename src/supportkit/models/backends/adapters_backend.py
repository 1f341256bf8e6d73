"""Bottleneck adapters through AdapterHub ``adapters``: Pfeiffer, Houlsby, parallel, and fusion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supportkit.errors import ConfigError, ModelLoadError
from supportkit.models.backends.base import BACKENDS, Backend

if TYPE_CHECKING:
    from supportkit.config import AdapterConfig, Config
    from supportkit.config.methods import MethodSpec


def bottleneck_config(section: AdapterConfig) -> Any:
    from adapters import DoubleSeqBnConfig, ParBnConfig, SeqBnConfig

    section.validate()
    cls = {"seq_bn": SeqBnConfig, "double_seq_bn": DoubleSeqBnConfig, "par_bn": ParBnConfig}[
        section.adapter_type
    ]
    # "mam_adapter" zero-initialises the up-projection, so an untrained adapter is an exact
    # identity. The library's default ("bert") adds random noise that garbles SmolLM2's output.
    return cls(
        reduction_factor=section.reduction_factor,
        non_linearity=section.non_linearity,
        init_weights="mam_adapter",
    )


def _fix_cache_keyword(model: Any) -> int:
    """Work around adapters 1.3 on transformers >= 4.56 (adapter-hub/adapters#824).

    transformers now passes the KV cache as ``past_key_values=`` while the layers that
    ``adapters.init`` swaps in still read ``past_key_value=``; the cache is silently dropped and
    incremental decoding attends to the current token only (garbage after the first token). A
    forward pre-hook renames the keyword on exactly the modules whose forward expects the old one.
    """
    import inspect

    def rename(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if "past_key_values" in kwargs and kwargs.get("past_key_value") is None:
            kwargs["past_key_value"] = kwargs.pop("past_key_values")
        return args, kwargs

    patched = 0
    for module in model.modules():
        params = inspect.signature(type(module).forward).parameters
        if "past_key_value" in params and "past_key_values" not in params:
            module.register_forward_pre_hook(rename, with_kwargs=True)
            patched += 1
    return patched


@BACKENDS.register("adapters")
class AdaptersBackend(Backend):
    weights_file = "adapter.safetensors"

    def __init__(self, spec: MethodSpec, model: Any, config: Config, adapter_name: str) -> None:
        import adapters

        super().__init__(spec, model, config, adapter_name)
        adapters.init(model)
        _fix_cache_keyword(model)
        self.module = model
        self._fusions: list[tuple[str, ...]] = []
        self._active = adapter_name
        self.module.add_adapter(adapter_name, config=bottleneck_config(config.adapter))
        self.module.adapter_to(adapter_name, device=self._device())
        self._activate(adapter_name)

    def _device(self) -> Any:
        return self.module.get_input_embeddings().weight.device

    def _activate(self, name: Any) -> None:
        """Make ``name`` (an adapter or a Fuse) the active, trainable part; keep train/eval mode."""
        from adapters.composition import Fuse

        was_training = self.module.training
        if isinstance(name, Fuse):
            self.module.train_adapter_fusion(name)
            self._active = "fusion:" + ",".join(name.children)
        else:
            self.module.train_adapter(name)
            self._active = name
        self.module.train(was_training)

    @property
    def adapter_names(self) -> list[str]:
        return list(self.module.adapters_config.adapters)

    @property
    def active_adapter(self) -> str:
        return self._active

    def add_adapter(self, name: str, config: Config) -> None:
        if name in self.adapter_names:
            raise ConfigError(f"an adapter named {name!r} already exists")
        self.module.add_adapter(name, config=bottleneck_config(config.adapter))
        self.module.adapter_to(name, device=self._device())

    def set_adapter(self, name: str) -> None:
        self._require(name)
        self._activate(name)

    def delete_adapter(self, name: str) -> None:
        self._require(name)
        if len(self.adapter_names) == 1:
            raise ConfigError("cannot delete the only adapter; load or add another one first")
        was_active = self._active == name or (
            self._active.startswith("fusion:") and name in self._active[7:].split(",")
        )
        self.module.delete_adapter(name)
        if was_active:
            self._activate(self.adapter_names[0])

    def save(self, path: Path, name: str) -> None:
        self._require(name)
        # with_head=False: the LM head is the base model's, and would be a 113 MB pickle by default.
        self.module.save_adapter(str(path), name, with_head=False, use_safetensors=True)

    def load(self, path: Path, name: str) -> None:
        if not (path / "adapter_config.json").is_file():
            raise ModelLoadError(f"{path} is not an adapter directory (no adapter_config.json)")
        try:
            saved = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ModelLoadError(f"{path / 'adapter_config.json'} is not valid JSON: {exc}") from exc
        if not isinstance(saved, dict) or "config" not in saved:
            raise ModelLoadError(f"{path / 'adapter_config.json'} has no adapter config")
        if name in self.adapter_names:
            self.module.delete_adapter(name)
        self.module.load_adapter(
            str(path), load_as=name, with_head=False, use_safetensors=True, set_active=True
        )
        # AdapterHub builds loaded adapters on the CPU: put them where the model is (e.g. a GPU)
        self.module.adapter_to(name, device=self._device())
        self._activate(name)

    # --- AdapterFusion ---------------------------------------------------------------------------
    def add_fusion(self, names: list[str]) -> Any:
        from adapters.composition import Fuse

        for n in names:
            self._require(n)
        fuse = Fuse(*names)
        if tuple(names) not in self._fusions:
            self.module.add_adapter_fusion(fuse)
            self.module.adapter_fusion_to(fuse, device=self._device())
            self._fusions.append(tuple(names))
        return fuse

    def activate_fusion(self, names: list[str]) -> None:
        """Train (and run) the fusion layer over ``names``; the fused adapters stay frozen."""
        from adapters.composition import Fuse

        if tuple(names) not in self._fusions:
            raise ConfigError(f"no fusion over {names}; call add_fusion first")
        self._activate(Fuse(*names))

    def save_fusion(self, path: Path, names: list[str]) -> None:
        self.module.save_adapter_fusion(str(path), ",".join(names), use_safetensors=True)
