"""``Config``: every section together, read from and written to YAML, with dotted overrides."""

from __future__ import annotations

import dataclasses
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from supportkit.config.adaptation import AdapterConfig, LoRAConfig, PEFTConfig
from supportkit.config.base import Section
from supportkit.config.guardrails import GuardrailsConfig
from supportkit.config.loader import apply_overrides, build_section, load_yaml
from supportkit.config.model import GenerationConfig, ModelConfig
from supportkit.config.prompting import KnowledgeConfig, PromptConfig
from supportkit.config.serving import ServingConfig
from supportkit.config.training import DataConfig, EvaluationConfig, TrainingConfig
from supportkit.errors import ConfigError, did_you_mean

#: YAML key -> section class, in the order sections are written.
SECTIONS: dict[str, type[Section]] = {
    "model": ModelConfig,
    "generation": GenerationConfig,
    "lora": LoRAConfig,
    "adapter": AdapterConfig,
    "peft": PEFTConfig,
    "prompt": PromptConfig,
    "training": TrainingConfig,
    "data": DataConfig,
    "knowledge": KnowledgeConfig,
    "guardrails": GuardrailsConfig,
    "evaluation": EvaluationConfig,
    "serving": ServingConfig,
}

C = TypeVar("C", bound="Config")


@dataclass
class Config:
    """Everything a run needs. ``Config()`` is a working default on a laptop CPU."""

    model: ModelConfig = field(default_factory=ModelConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    peft: PEFTConfig = field(default_factory=PEFTConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    data: DataConfig = field(default_factory=DataConfig)
    knowledge: KnowledgeConfig = field(default_factory=KnowledgeConfig)
    guardrails: GuardrailsConfig = field(default_factory=GuardrailsConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    serving: ServingConfig = field(default_factory=ServingConfig)

    def __post_init__(self) -> None:
        self._apply_deprecated_aliases()

    def validate(self) -> None:
        """Validate every section again (values may have been assigned after construction)."""
        for name, cls in SECTIONS.items():
            section = getattr(self, name)
            if not isinstance(section, cls):
                raise ConfigError(f"config.{name} must be a {cls.__name__}, got {section!r}")
            section.validate()
        self._apply_deprecated_aliases()

    def _apply_deprecated_aliases(self) -> None:
        """``lora.use_dora: true`` -> ``peft.method: dora`` (DoRA's one switch), with a warning."""
        if isinstance(self.lora, LoRAConfig) and self.lora.use_dora:
            warnings.warn(
                "lora.use_dora is deprecated: set peft.method=dora instead "
                f"(peft.method was {self.peft.method!r}; use_dora is turned into the dora method)",
                DeprecationWarning,
                stacklevel=3,
            )
            if isinstance(self.peft, PEFTConfig) and self.peft.method == "lora":
                self.peft.method = "dora"
            self.lora.use_dora = False

    # --- dict / YAML ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any] | None) -> C:
        data = dict(data or {})
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a mapping of sections, got {type(data).__name__}")
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ConfigError(
                f"unknown config section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}"
                f"{did_you_mean(unknown[0], SECTIONS)}"
            )
        sections = {
            name: build_section(section_cls, data.get(name) or {}) for name, section_cls in SECTIONS.items()
        }
        return cls(**sections)  # type: ignore[arg-type]

    @classmethod
    def from_yaml(cls: type[C], path: str | Path) -> C:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def with_overrides(self: C, overrides: typing.Iterable[str]) -> C:
        """Return a copy with dotted overrides applied, e.g. ``training.learning_rate=1e-4``."""
        data = self.to_dict()
        apply_overrides(data, overrides, SECTIONS)
        return type(self).from_dict(data)
