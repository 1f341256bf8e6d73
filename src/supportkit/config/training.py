"""Training runs and their data: ``training``, ``data`` and ``evaluation`` sections."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

from supportkit.config.base import Section
from supportkit.errors import ConfigError
from supportkit.utils.validation import check_choice, check_fraction, check_positive, fail

MIXED_PRECISION = ("no", "bf16", "fp16")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
OBJECTIVES = ("sft", "dpo", "kto")


@dataclass
class TrainingConfig(Section):
    """Training hyperparameters."""

    section: typing.ClassVar[str] = "training"
    output_dir: str = "outputs/run"
    num_epochs: int = 1
    #: Stop after this many optimizer steps (overrides ``num_epochs`` when set).
    max_steps: int | None = None
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0
    lr_scheduler: str = "linear"
    max_grad_norm: float | None = 1.0
    #: ``no`` (fp32, the CPU default), ``bf16`` or ``fp16`` (through accelerate).
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    seed: int = 42
    logging_steps: int = 10
    eval_steps: int | None = 50
    save_steps: int | None = 50
    save_total_limit: int = 2
    #: Resume from ``auto`` (latest valid checkpoint in output_dir) or a checkpoint path.
    resume_from: str | None = None
    #: Resume even if the data or config differ from the checkpoint's (normally refused).
    force_resume: bool = False
    #: Validation examples whose answers are generated at each evaluation (ROUGE-L, similarity).
    eval_samples: int = 8
    #: Metric that picks the best checkpoint and drives early stopping:
    #: ``val_loss`` (lower is better), ``rougeL`` or ``similarity`` (higher is better).
    metric_for_best: str = "val_loss"
    #: Stop after this many evaluations without improvement (``None``: never stop early).
    early_stopping_patience: int | None = None
    #: Compute output-layer logits only at labelled positions (saves much compute and memory).
    logits_only_on_labels: bool = True
    #: ``sft`` (answers in ``data.train_file``), or ``dpo`` / ``kto`` (TRL's preference trainers on a
    #: file from ``supportkit feedback export``; see README "Learning from feedback").
    objective: str = "sft"
    #: A saved adapter directory training starts from (for ``dpo``/``kto``: the SFT adapter, which is
    #: also the frozen reference); ``None``: a fresh adapter of ``peft.method``.
    init_adapter: str | None = None
    #: ``dpo``/``kto``: how far the policy may move from the reference (TRL's ``beta``).
    beta: float = 0.1

    def validate(self) -> None:
        check_choice("training", self, "objective", OBJECTIVES)
        check_positive("training", self, "beta")
        if self.init_adapter is not None and (
            not isinstance(self.init_adapter, str) or not self.init_adapter
        ):
            fail("training", "init_adapter", self.init_adapter, "a saved adapter directory or null")
        check_positive("training", self, "num_epochs", "batch_size", "gradient_accumulation_steps")
        check_positive("training", self, "learning_rate", "max_steps", "logging_steps")
        check_positive("training", self, "eval_steps", "save_steps", "save_total_limit")
        check_positive("training", self, "weight_decay", "warmup_steps", "max_grad_norm", allow_zero=True)
        check_choice("training", self, "mixed_precision", MIXED_PRECISION)
        check_choice("training", self, "lr_scheduler", SCHEDULERS)
        check_choice("training", self, "metric_for_best", ("val_loss", "rougeL", "similarity"))
        check_positive("training", self, "eval_samples", allow_zero=True)
        check_positive("training", self, "early_stopping_patience")
        if self.max_steps and self.warmup_steps >= self.max_steps:
            raise ConfigError(
                f"training.warmup_steps={self.warmup_steps} >= training.max_steps={self.max_steps}: the "
                "learning rate would never leave warmup. Lower warmup_steps (about a tenth of the steps)"
            )


@dataclass
class DataConfig(Section):
    """Where the data is and how it is split."""

    section: typing.ClassVar[str] = "data"
    train_file: str | None = None
    validation_file: str | None = None
    train_split: float = 0.8
    val_split: float = 0.1
    test_split: float = 0.1
    #: Most tokens of a training conversation. ``None`` (default): chosen from the training data
    #: as the 99th percentile of its token lengths rounded up to a multiple of 64, at most
    #: ``max_length_cap`` (the choice is logged). An explicit value that shortens or cuts more
    #: than 1 % of the conversations is warned about with the value that would fit 99 %.
    max_length: int | None = None
    #: Upper bound of the automatic ``max_length``: training memory grows with
    #: ``training.batch_size x max_length`` (attention's share quadratically); raise it for long
    #: conversations when memory allows.
    max_length_cap: int = 1024
    seed: int = 42
    stratify: bool = True
    #: ``raise`` stops at the first malformed row; ``skip`` skips and counts them.
    on_error: str = "raise"
    #: CSV column name -> field name (``instruction``, ``response``, ``intent``, ...).
    column_mapping: dict[str, str] = field(default_factory=dict)
    #: CSV delimiter (one character such as ``";"``, or ``tab``); ``None``: detected from the header.
    csv_delimiter: str | None = None
    #: Replace personal data and secrets (as ``guardrails.redact_output``, same regions) when
    #: training, few-shot and intent files are read, and before conversations are stored.
    redact_pii: bool = False
    #: Questions more similar than this (MiniLM cosine) stay in one split; ``None``: exact only.
    dedup_threshold: float | None = 0.95
    #: Hold these intents out entirely (all in test) to measure generalisation.
    leave_out_intents: list[str] = field(default_factory=list)
    #: Prepend the prompt set's system instruction to conversations that have none, so training
    #: sees the same system prompt as zero-shot inference.
    add_system_prompt: bool = True
    #: Batch similar lengths together (less padding); order stays seeded and reproducible.
    group_by_length: bool = True

    def validate(self) -> None:
        check_fraction("data", self, "train_split", "val_split", "test_split")
        total = self.train_split + self.val_split + self.test_split
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(
                f"data.train_split + data.val_split + data.test_split = {total:g}; they must sum to 1"
            )
        check_positive("data", self, "max_length", "max_length_cap")
        if self.max_length_cap is None:
            raise ConfigError("data.max_length_cap must be a number of tokens (e.g. 1024)")
        check_choice("data", self, "on_error", ("raise", "skip"))
        delimiter = self.csv_delimiter
        if (
            delimiter is not None
            and delimiter not in ("tab", "\\t")
            and (len(delimiter) != 1 or delimiter in '"\r\n')
        ):
            raise ConfigError(
                f"data.csv_delimiter={delimiter!r}: use one character such as ',', ';' or '|', or 'tab'"
            )
        if self.dedup_threshold is not None:
            check_fraction("data", self, "dedup_threshold")


@dataclass
class EvaluationConfig(Section):
    """What ``supportkit eval`` and ``supportkit compare`` run and where reports go."""

    section: typing.ClassVar[str] = "evaluation"
    #: Split of ``data.train_file`` to evaluate on (``test`` or ``validation``).
    split: str = "test"
    #: Evaluate at most this many examples of the split (``None``: all).
    max_examples: int | None = None
    #: Prompt strategies to evaluate (each a system; with ``compare``, for every method).
    strategies: list[str] = field(default_factory=lambda: ["zero_shot"])
    #: Adaptation methods for ``compare`` (``none`` = the untuned base; ``pfeiffer``/``houlsby``
    #: are the bottleneck variants).
    methods: list[str] = field(default_factory=lambda: ["none", "lora"])
    #: Strategies for the trained methods (``None``: the same as ``strategies``).
    tuned_strategies: list[str] | None = None
    #: Systems without a language model added to the table.
    baselines: list[str] = field(default_factory=lambda: ["nearest_neighbour"])
    #: ``compare`` adds a LoRA trained without these intents, evaluated on them (generalisation).
    leave_out_intents: list[str] = field(default_factory=list)
    #: A trained adapter directory ``eval`` answers with (``None``: the configured model).
    adapter: str | None = None
    output_dir: str = "reports/latest"
    bootstrap_resamples: int = 2000

    def validate(self) -> None:
        check_choice("evaluation", self, "split", ("test", "validation"))
        check_positive("evaluation", self, "max_examples", "bootstrap_resamples")
        for name in ("strategies", "methods"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                fail("evaluation", name, value, "a list of names")
