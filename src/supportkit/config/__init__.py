"""Typed configuration: one dataclass per component, all held by :class:`Config`.

Values are validated when a section is built (``__post_init__``) and again where they are used
(``validate()`` is called by the components), so an assignment after construction such as
``config.peft.method = "bogus"`` still fails with a clear error when the model is built.

Example::

    config = Config.from_yaml("configs/lora.yaml").with_overrides(["training.learning_rate=1e-4"])
    config.to_yaml("run.yaml")

Values are never evaluated as code: YAML is read with a safe loader and overrides are parsed as
YAML scalars, then checked against the field's declared type. Booleans are YAML 1.2's (``true`` /
``false`` only), so ``mixed_precision: no`` is the string ``"no"``, not ``False``.

Modules: :mod:`~supportkit.config.model` (model, generation), :mod:`~supportkit.config.adaptation`
(lora, adapter, peft), :mod:`~supportkit.config.prompting` (prompt, knowledge),
:mod:`~supportkit.config.guardrails`, :mod:`~supportkit.config.training` (training, data,
evaluation), :mod:`~supportkit.config.serving`, :mod:`~supportkit.config.loader` (YAML,
overrides), :mod:`~supportkit.config.core` (``Config``) and :mod:`~supportkit.config.methods` (the
adaptation-method catalogue).
"""

from __future__ import annotations

from supportkit.config.adaptation import (
    ADAPTER_ALIASES,
    ADAPTER_TYPES,
    LORA_BIAS,
    NON_LINEARITIES,
    AdapterConfig,
    LoRAConfig,
    PEFTConfig,
)
from supportkit.config.base import Section
from supportkit.config.core import SECTIONS, Config
from supportkit.config.guardrails import GuardrailsConfig
from supportkit.config.model import (
    BUNDLED_MODEL,
    DTYPES,
    REPETITION_SCOPES,
    Device,
    GenerationConfig,
    ModelConfig,
)
from supportkit.config.prompting import KnowledgeConfig, PromptConfig
from supportkit.config.serving import ServingConfig
from supportkit.config.training import (
    MIXED_PRECISION,
    SCHEDULERS,
    DataConfig,
    EvaluationConfig,
    TrainingConfig,
)

__all__ = [
    "ADAPTER_ALIASES",
    "ADAPTER_TYPES",
    "BUNDLED_MODEL",
    "DTYPES",
    "LORA_BIAS",
    "MIXED_PRECISION",
    "NON_LINEARITIES",
    "REPETITION_SCOPES",
    "SCHEDULERS",
    "SECTIONS",
    "AdapterConfig",
    "Config",
    "DataConfig",
    "Device",
    "EvaluationConfig",
    "GenerationConfig",
    "GuardrailsConfig",
    "KnowledgeConfig",
    "LoRAConfig",
    "ModelConfig",
    "PEFTConfig",
    "PromptConfig",
    "Section",
    "ServingConfig",
    "TrainingConfig",
]
