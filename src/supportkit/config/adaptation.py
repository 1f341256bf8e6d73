"""How the model is adapted: ``peft`` (which method), ``lora`` and ``adapter`` (their settings)."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any

from supportkit.config.base import Section
from supportkit.config.methods import METHODS
from supportkit.errors import did_you_mean
from supportkit.utils.validation import check_choice, check_fraction, check_positive, fail

ADAPTER_TYPES = ("seq_bn", "double_seq_bn", "par_bn")
ADAPTER_ALIASES = {"pfeiffer": "seq_bn", "houlsby": "double_seq_bn", "parallel": "par_bn"}
NON_LINEARITIES = ("relu", "gelu", "swish", "silu", "tanh", "leakyrelu")
LORA_BIAS = ("none", "all", "lora_only")


@dataclass
class LoRAConfig(Section):
    """LoRA / DoRA settings (read by the ``lora`` and ``dora`` methods)."""

    section: typing.ClassVar[str] = "lora"
    r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    #: Module names, or ``all-linear`` (every linear layer except the output head).
    target_modules: list[str] | str = "all-linear"
    bias: str = "none"
    #: Deprecated alias of ``peft.method: dora`` (the one DoRA switch): ``Config`` turns it into
    #: that method with a ``DeprecationWarning`` and sets it back to false.
    use_dora: bool = False

    def validate(self) -> None:
        check_positive("lora", self, "r", "lora_alpha")
        check_fraction("lora", self, "lora_dropout", inclusive_high=False)
        check_choice("lora", self, "bias", LORA_BIAS)
        tm = self.target_modules
        if isinstance(tm, str):
            if not tm:
                fail("lora", "target_modules", tm, "'all-linear' or a list of module names")
        elif not (isinstance(tm, list) and tm and all(isinstance(t, str) and t for t in tm)):
            fail("lora", "target_modules", tm, "'all-linear' or a non-empty list of module names")


@dataclass
class AdapterConfig(Section):
    """Bottleneck adapter settings (read by the ``bottleneck`` method, AdapterHub ``adapters``)."""

    section: typing.ClassVar[str] = "adapter"
    #: ``seq_bn`` (Pfeiffer), ``double_seq_bn`` (Houlsby) or ``par_bn`` (parallel);
    #: the aliases ``pfeiffer``, ``houlsby`` and ``parallel`` are accepted.
    adapter_type: str = "seq_bn"
    reduction_factor: int = 16
    non_linearity: str = "relu"
    #: Name of the adapter that is created and activated.
    adapter_name: str = "default"

    def validate(self) -> None:
        self.adapter_type = ADAPTER_ALIASES.get(self.adapter_type, self.adapter_type)
        check_choice("adapter", self, "adapter_type", ADAPTER_TYPES)
        check_positive("adapter", self, "reduction_factor")
        check_choice("adapter", self, "non_linearity", NON_LINEARITIES)
        if not isinstance(self.adapter_name, str) or not self.adapter_name.isidentifier():
            fail("adapter", "adapter_name", self.adapter_name, "an identifier such as 'billing'")


@dataclass
class PEFTConfig(Section):
    """Which adaptation technique to use; switching technique is a change of ``method`` only."""

    section: typing.ClassVar[str] = "peft"
    #: A registered method (:data:`supportkit.config.methods.METHODS`): ``lora``, ``dora``, ``ia3``,
    #: ``loha``, ``lokr``, ``prefix_tuning``, ``prompt_tuning``, ``bottleneck``, ``full`` (no
    #: adapter: every weight trains) or ``none`` (the base model as is).
    method: str = "lora"
    #: Settings for methods without a section of their own, checked against the peft config
    #: class of that method when the model is built (e.g. ``{"num_virtual_tokens": 20}``).
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if self.method not in METHODS:
            names = METHODS.names()
            fail(
                "peft", "method", self.method, "one of " + ", ".join(names) + did_you_mean(self.method, names)
            )
        if not isinstance(self.options, dict):
            fail("peft", "options", self.options, "a mapping of option name to value")
