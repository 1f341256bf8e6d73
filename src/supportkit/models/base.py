"""``BaseModel``: what every model facade shares (loading, generation, parameter counts, device)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from supportkit.config import Config, GenerationConfig
from supportkit.generation import Generated, generate_chat
from supportkit.models.loading import LoadedBase, load_base

log = logging.getLogger(__name__)

Messages = Sequence[Mapping[str, str]]


class BaseModel(ABC):
    """Base model + tokenizer from the loader, plus the operations every facade offers.

    Subclasses decide how the model is adapted (``PEFTModel`` and its ``LoRAModel`` /
    ``AdapterModel`` specialisations).
    """

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()
        self.config.validate()
        m = self.config.model
        self.base: LoadedBase = load_base(
            m.name_or_path,
            device=m.device,
            dtype=m.dtype,
            trust_remote_code=m.trust_remote_code,
            revision=m.revision,
            threads=m.threads,
        )
        self.tokenizer: Any = self.base.tokenizer

    @property
    @abstractmethod
    def model(self) -> Any:
        """The torch module that runs forward (the adapted model)."""

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def train(self, mode: bool = True) -> BaseModel:
        self.model.train(mode)
        return self

    def eval(self) -> BaseModel:
        return self.train(False)

    # --- generation ------------------------------------------------------------------------------
    def generate_full(self, prompt: str | Messages, settings: GenerationConfig | None = None) -> Generated:
        """Generate a reply with token counts; ``prompt`` is a question or chat messages."""
        messages: Messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        was_training = self.model.training
        self.model.eval()
        try:
            return generate_chat(self.model, self.tokenizer, messages, settings or self.config.generation)
        finally:
            self.model.train(was_training)

    def generate(self, prompt: str | Messages, settings: GenerationConfig | None = None) -> str:
        """The reply text for a question or a list of chat messages."""
        return self.generate_full(prompt, settings).text

    # --- parameters ------------------------------------------------------------------------------
    def trainable_parameters(self) -> tuple[int, int]:
        """(trainable, total) parameter counts; total includes adapter parameters."""
        trainable = total = 0
        for p in self.model.parameters():
            total += p.numel()
            if p.requires_grad:
                trainable += p.numel()
        return trainable, total

    def parameter_summary(self) -> str:
        trainable, total = self.trainable_parameters()
        share = 100.0 * trainable / total if total else 0.0
        return f"trainable: {trainable:,} / {total:,} ({share:.2f}%)"

    def print_trainable_parameters(self) -> None:
        """Print :meth:`parameter_summary` (the one printing method, as in peft)."""
        print(self.parameter_summary())

    # --- persistence -----------------------------------------------------------------------------
    @abstractmethod
    def save_model(self, path: str | Path) -> Path:
        """Save what was trained (adapter weights, or the whole model for full tuning)."""

    @abstractmethod
    def load_model(self, path: str | Path) -> None:
        """Load what :meth:`save_model` wrote onto this model's base."""
