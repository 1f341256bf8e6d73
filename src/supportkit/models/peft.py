"""``PEFTModel``: every adaptation method behind one interface, chosen by ``config.peft.method``.

config = Config().with_overrides(["peft.method=ia3"])
model = PEFTModel(config)            # switching technique is a config change only
model.save_model("out/ia3")
again = PEFTModel.from_saved("out/ia3")
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.errors import ConfigError, ModelLoadError, SupportKitError
from supportkit.models.artifacts import AdapterMeta, adapter_config, check_weights
from supportkit.models.backends import Backend, create_backend
from supportkit.models.base import BaseModel
from supportkit.models.methods import METHODS
from supportkit.models.methods.base import mergeable_methods
from supportkit.models.tokenizer import encode_chat
from supportkit.utils.atomic import atomic_directory

log = logging.getLogger(__name__)

_PROBE = [
    [
        {"role": "system", "content": "You are a customer-support assistant."},
        {"role": "user", "content": "My order has not arrived yet. What can I do?"},
    ],
    [{"role": "user", "content": "How do I change the email address on my account?"}],
]


class MergeError(SupportKitError):
    """Merged and unmerged outputs disagree; the model was left unmerged."""


class PEFTModel(BaseModel):
    """Unified interface over peft tuners, bottleneck adapters and full fine-tuning."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        adapter_name: str = "default",
        method: str | None = None,
    ) -> None:
        super().__init__(config)
        self.spec = METHODS.get(method or self._default_method())
        with self._seeded(adapter_name):
            self._backend: Backend = create_backend(self.spec, self.base.model, self.config, adapter_name)
        self._merged_model: Any = None
        self.model.eval()  # inference mode until a trainer says otherwise
        log.info("%s: %s", self.spec.name, self.parameter_summary())

    def _default_method(self) -> str:
        return self.config.peft.method

    @contextlib.contextmanager
    def _seeded(self, adapter_name: str) -> Iterator[None]:
        """Adapter initialisation depends only on training.seed and the adapter's name.

        Runs are reproducible, and every process of a multi-process run starts from the same
        weights, without touching the global random state.
        """
        import torch

        seed = int.from_bytes(
            hashlib.sha256(f"{self.config.training.seed}:{adapter_name}".encode()).digest()[:4], "little"
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield

    @property
    def method(self) -> str:
        return self.spec.name

    @property
    def model(self) -> Any:
        return self._merged_model if self._merged_model is not None else self._backend.module

    @property
    def merged(self) -> bool:
        return self._merged_model is not None

    def _backend_or_fail(self) -> Backend:
        if self.merged:
            raise ConfigError(
                "the adapter was merged into the base for inference; adapters can no longer be "
                "added, switched or saved (save before merging, or use save_merged)"
            )
        return self._backend

    # --- named adapters ----------------------------------------------------------------------------
    @property
    def adapter_names(self) -> list[str]:
        return self._backend_or_fail().adapter_names

    @property
    def active_adapter(self) -> str:
        return self._backend_or_fail().active_adapter

    def add_adapter(self, name: str, config: Config | None = None) -> None:
        """Add another adapter of this method (e.g. one per department); it is not activated."""
        if not name.isidentifier():
            raise ConfigError(f"adapter name {name!r} must be an identifier such as 'billing'")
        was_training = self.model.training
        try:
            with self._seeded(name):
                self._backend_or_fail().add_adapter(name, config or self.config)
        finally:
            self.model.train(was_training)  # a new adapter's dropout follows the model's mode

    def set_adapter(self, name: str) -> None:
        """Activate adapter ``name`` for generation and training."""
        self._backend_or_fail().set_adapter(name)

    def delete_adapter(self, name: str) -> None:
        self._backend_or_fail().delete_adapter(name)

    def load_adapter(self, path: str | Path, name: str, *, force: bool = False) -> None:
        """Load a saved adapter under ``name`` (alongside the others) and activate it."""
        self.load_model(path, adapter_name=name, force=force)

    # --- persistence -------------------------------------------------------------------------------
    def save_model(self, path: str | Path, adapter_name: str | None = None) -> Path:
        """Write the active (or named) adapter: the library's own files + tokenizer + metadata.

        peft methods write ``adapter_config.json`` + ``adapter_model.safetensors``, loadable with
        plain ``peft.PeftModel.from_pretrained``; bottleneck adapters write AdapterHub's files in
        safetensors, without the LM head. The directory is replaced atomically.
        """
        backend = self._backend_or_fail()
        name = adapter_name or backend.active_adapter
        path = Path(path)
        if self.spec.backend == "peft":
            backend.module.peft_config[name].base_model_name_or_path = str(self.base.model_dir)
        with atomic_directory(path, overwrite=True) as tmp:
            backend.save(tmp, name)
            self.tokenizer.save_pretrained(tmp)
            AdapterMeta(
                method=self.spec.name,
                adapter_name=name,
                base_model=self.base.name_or_path,
                base_model_dir=str(self.base.model_dir),
                base_fingerprint=self.base.fingerprint,
                config=self.config.to_dict(),
            ).write(tmp)
        return path

    def load_model(self, path: str | Path, adapter_name: str | None = None, *, force: bool = False) -> None:
        """Load an adapter saved by :meth:`save_model`, after checking it was trained on this base."""
        path = Path(path)
        meta = AdapterMeta.read(path)
        if meta.method != self.spec.name and not (
            {meta.method, self.spec.name} <= {"lora", "dora"} and self.spec.backend == "peft"
        ):
            raise ConfigError(
                f"{path} holds a {meta.method!r} adapter but this model uses {self.spec.name!r}; "
                f"use PEFTModel.from_saved({str(path)!r}) or set peft.method={meta.method}"
            )
        meta.check_base(self.base.fingerprint, self.base.name_or_path, force=force)
        backend = self._backend_or_fail()
        if self.spec.backend != "none":
            check_weights(path, backend.weights_file)
        name = adapter_name or meta.adapter_name
        before, active = set(backend.adapter_names), backend.active_adapter
        was_training = self.model.training
        try:
            backend.load(path, name)
        except Exception as exc:
            # Never leave a half-registered adapter behind: drop a new name, reactivate the old one.
            if name not in before and name in backend.adapter_names:
                with contextlib.suppress(Exception):
                    backend.delete_adapter(name)
            if active in backend.adapter_names:
                with contextlib.suppress(Exception):
                    backend.set_adapter(active)
            if isinstance(exc, ModelLoadError):
                raise
            raise ModelLoadError(
                f"could not load the adapter in {path / backend.weights_file}: {exc}"
            ) from exc
        finally:
            self.model.train(was_training)  # loading must not switch dropout on

    @classmethod
    def from_saved(cls, path: str | Path, config: Config | None = None, *, force: bool = False) -> PEFTModel:
        """Rebuild a model from a saved adapter directory.

        The adapter's shape (``peft``/``lora``/``adapter`` sections) comes from its recorded
        config; everything else from ``config``, and ``model.trust_remote_code``/``revision``
        never from the adapter's files (see :func:`~supportkit.models.artifacts.adapter_config`).
        Raises :class:`ModelLoadError` (naming the file) or :class:`AdapterMismatchError`.
        """
        meta = AdapterMeta.read(Path(path))
        config = adapter_config(meta, Path(path), config)
        model = cls(config, adapter_name=meta.adapter_name, method=meta.method)
        model.load_model(path, force=force)
        return model

    # --- merging -----------------------------------------------------------------------------------
    def _probe_logits(self, batch: dict[str, Any]) -> Any:
        import torch

        with torch.inference_mode():
            return self.model(**batch).logits.float()

    def _probe_batch(self) -> dict[str, Any]:
        rows = [encode_chat(self.tokenizer, m) for m in _PROBE]
        padded = self.tokenizer.pad({"input_ids": rows}, return_tensors="pt", padding_side="right")
        return {k: v.to(self.device) for k, v in padded.items()}

    def merge(self, *, atol: float | None = None, unload: bool = True) -> None:
        """Fold the active adapter into the base weights for zero-overhead inference.

        First checks on a probe batch that merged and unmerged logits agree (``atol`` 1e-3 in
        fp32, 0.1 in bf16/fp16) with identical argmax; otherwise raises :class:`MergeError` and
        leaves the model unmerged. With ``unload`` (default) the adapter layers are removed,
        leaving a plain transformers model (other named adapters are dropped).
        """
        import torch

        if not self.spec.can_merge:
            raise ConfigError(
                f"method {self.spec.name!r} cannot be merged; mergeable methods: "
                f"{', '.join(mergeable_methods())}"
            )
        backend = self._backend_or_fail()
        if atol is None:
            atol = 1e-3 if next(self.model.parameters()).dtype == torch.float32 else 1e-1
        was_training = self.model.training
        self.model.eval()
        batch = self._probe_batch()
        mask = batch["attention_mask"].bool()
        before = self._probe_logits(batch)[mask]
        backend.merge_adapter()
        after = self._probe_logits(batch)[mask]
        diff = (before - after).abs().max().item()
        same_argmax = bool((before.argmax(-1) == after.argmax(-1)).all())
        if diff > atol or not same_argmax:
            backend.unmerge_adapter()
            self.model.train(was_training)
            raise MergeError(
                f"merged and unmerged logits differ (max |diff| {diff:.2e} > atol {atol:g}, "
                f"identical argmax: {same_argmax}); the model was left unmerged"
            )
        log.info("merge check passed: max |diff| %.2e", diff)
        if unload:
            self._merged_model = backend.merge_and_unload()
            self._merged_model.train(was_training)
        else:
            self.model.train(was_training)

    def unmerge(self) -> None:
        """Undo ``merge(unload=False)``."""
        self._backend_or_fail().unmerge_adapter()

    def save_merged(self, path: str | Path) -> Path:
        """Save the merged model as a plain transformers directory (safetensors + tokenizer)."""
        if not self.merged:
            raise ConfigError("call merge() before save_merged()")
        path = Path(path)
        with atomic_directory(path, overwrite=True) as tmp:
            self.model.save_pretrained(tmp, safe_serialization=True)
            self.tokenizer.save_pretrained(tmp)
        return path
