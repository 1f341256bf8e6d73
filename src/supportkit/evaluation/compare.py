"""The technique comparison: adaptation methods x prompt strategies on one split, seed and step
budget, plus baselines without a language model, in one table with intervals.

    result = run_comparison(config)            # evaluation.methods x evaluation.strategies
    write_report(out, result.systems, comparisons=result.pairs)

A strategy may name its example selector: ``few_shot:random`` next to ``few_shot:similarity``.
Each method is trained with the same data, seed and ``training.max_steps`` (per-method learning
rates in :data:`METHOD_OVERRIDES`, as full fine-tuning and IA3 want very different ones), saved,
measured (trainable parameters, adapter size, peak memory, time, tokens/s), then every strategy is
evaluated through the one :class:`InferencePipeline`, whose few-shot bank is the train split.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.data.loader import DataLoader
from supportkit.data.splits import Splits
from supportkit.evaluation.baselines import NearestNeighbourBaseline
from supportkit.evaluation.evaluator import EvalExample, Evaluator, SystemResult, timed_predictions
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import default_embedder

log = logging.getLogger(__name__)

#: Method name -> config overrides. ``pfeiffer``/``houlsby`` are the bottleneck variants.
METHOD_OVERRIDES: dict[str, list[str]] = {
    "none": ["peft.method=none"],
    "lora": ["peft.method=lora"],
    "dora": ["peft.method=dora"],
    "ia3": ["peft.method=ia3", "training.learning_rate=3e-3"],
    "loha": ["peft.method=loha"],
    "lokr": ["peft.method=lokr"],
    "prefix_tuning": ["peft.method=prefix_tuning", "training.learning_rate=1e-2"],
    "prompt_tuning": ["peft.method=prompt_tuning", "training.learning_rate=1e-2"],
    "pfeiffer": ["peft.method=bottleneck", "adapter.adapter_type=seq_bn"],
    "houlsby": ["peft.method=bottleneck", "adapter.adapter_type=double_seq_bn"],
    "bottleneck": ["peft.method=bottleneck"],
    "full": ["peft.method=full", "training.learning_rate=2e-5"],
}
BASELINES = ("nearest_neighbour",)


@dataclass
class EvalData:
    splits: Splits
    train: list[EvalExample]
    test: list[EvalExample]


def load_eval_data(config: Config, *, split: str = "test", limit: int | None = None) -> EvalData:
    """The configured data file split as training does it (same seed, dedup, held-out intents)."""
    loader = DataLoader(config)
    conversations, _ = loader.read()
    splits = loader.split(conversations)
    held = getattr(splits, split)
    if not held:
        raise ValueError(
            f"the {split} split is empty: raise data.{'val' if split == 'validation' else split}_split"
        )
    test = [EvalExample.from_conversation(c) for c in held][: limit or None]
    return EvalData(splits, [EvalExample.from_conversation(c) for c in splits.train], test)


def train_bank(train: Sequence[EvalExample], embedder: Any = None) -> ExampleBank:
    """A few-shot bank of the train split only (never the evaluated questions)."""
    from supportkit.data.readers import QAExample

    bank = ExampleBank(embedder=embedder or default_embedder())
    bank.extend([QAExample(e.question, e.reference, e.intent) for e in train])
    return bank


def evaluate_baseline(name: str, data: EvalData, evaluator: Evaluator) -> SystemResult:
    if name != "nearest_neighbour":
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    baseline = NearestNeighbourBaseline(data.train, evaluator.embedder)
    predictions, extra = timed_predictions(baseline.answer, data.test)
    return evaluator.score_predictions(
        baseline.name,
        data.test,
        predictions,
        extra,
        info={"method": "-", "strategy": "-", "trainable_params": 0},
    )


@dataclass
class ComparisonResult:
    systems: list[SystemResult]
    #: (a, b) system-name pairs whose paired differences the report shows.
    pairs: list[tuple[str, str]] = field(default_factory=list)
    training_logs: dict[str, str] = field(default_factory=dict)


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _trained(method: str, cfg: Config, adapter_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The model for ``method``, trained per ``cfg`` (unless ``none``), and what describes it."""
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.training import TrainingPipeline

    model = PEFTModel(cfg)
    trainable, total = model.trainable_parameters()
    info: dict[str, Any] = {
        "method": method,
        "trainable_params": trainable,
        "trainable_pct": round(100 * trainable / total, 3),
    }
    if method != "none":
        loader = DataLoader(cfg, model.tokenizer)
        train_dl, val_dl = loader.dataloaders_for(loader.prepare())
        summary = TrainingPipeline(model, cfg).train(train_dl, val_dl)
        saved = model.save_model(adapter_dir)
        info.update(
            adapter_mb=round(_dir_mb(saved), 2),
            peak_memory_mb=round(summary.peak_memory_mb),
            train_time_s=round(summary.train_time_s, 1),
            train_tokens_per_s=round(summary.tokens_per_s, 1),
            train_steps=summary.steps,
        )
    return model, info


def _unseen_intents_row(
    config: Config, intents: Sequence[str], out: Path, limit: int | None, progress: bool
) -> SystemResult:
    from supportkit.pipelines.inference import InferencePipeline

    cfg = config.with_overrides(
        [*METHOD_OVERRIDES["lora"], f"training.output_dir={out / 'train' / 'lora-unseen-intents'}"]
    )
    cfg.data.leave_out_intents = list(intents)
    data = load_eval_data(cfg)
    # at most half the main question count: a generalisation probe, not a second benchmark
    unseen = [e for e in data.test if e.intent in set(intents)][: (limit or len(data.test)) // 2 or None]
    model, info = _trained("lora", cfg, out / "adapters" / "lora-unseen-intents")
    info.update(other_questions=True, left_out=", ".join(intents))
    pipeline = InferencePipeline(model, cfg, bank=train_bank(data.train))
    evaluator = Evaluator(pipeline, seed=cfg.training.seed)
    name = f"lora + zero_shot, on intents left out of training ({len(unseen)} questions)"
    return evaluator.evaluate(unseen, name=name, strategy="zero_shot", info=info, progress=progress)


def run_comparison(
    config: Config,
    *,
    methods: Sequence[str],
    strategies: Sequence[str],
    tuned_strategies: Sequence[str] | None = None,
    baselines: Sequence[str] = BASELINES,
    leave_out_intents: Sequence[str] = (),
    limit: int | None = None,
    out_dir: str | Path = "reports/compare",
    progress: bool = True,
    on_system: Callable[[SystemResult], None] | None = None,
) -> ComparisonResult:
    """Train each method, evaluate each strategy with it, and add the baselines. With
    ``leave_out_intents``, one more LoRA is trained without those intents and evaluated on them
    (a row on other questions, outside the paired comparisons)."""
    from supportkit.pipelines.inference import InferencePipeline

    unknown = [m for m in methods if m not in METHOD_OVERRIDES]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHOD_OVERRIDES)}")
    out = Path(out_dir)
    data = load_eval_data(config, limit=limit)
    embedder = default_embedder()
    bank = train_bank(data.train, embedder)
    result = ComparisonResult([])

    def add(system: SystemResult) -> None:
        result.systems.append(system)
        if on_system is not None:
            on_system(system)

    for method in methods:
        cfg = config.with_overrides(
            [*METHOD_OVERRIDES[method], f"training.output_dir={out / 'train' / method}"]
        )
        model, info = _trained(method, cfg, out / "adapters" / method)
        if method != "none":
            result.training_logs[method] = str(Path(cfg.training.output_dir))
        for spec in strategies if method == "none" or tuned_strategies is None else tuned_strategies:
            strategy, _, selector = spec.partition(":")
            scfg = cfg.with_overrides([f"prompt.selector={selector}"]) if selector else cfg
            pipeline = InferencePipeline(model, scfg, bank=bank)
            evaluator = Evaluator(pipeline, intent_reference=data.train, seed=cfg.training.seed)
            add(
                evaluator.evaluate(
                    data.test,
                    name=f"{method} + {spec}",
                    strategy=strategy,
                    info=dict(info),
                    progress=progress,
                )
            )
        del model
    if leave_out_intents:
        add(_unseen_intents_row(config, leave_out_intents, out, limit, progress))
    if baselines:
        evaluator = Evaluator(None, intent_reference=data.train, embedder=embedder)
        for name in baselines:
            add(evaluate_baseline(name, data, evaluator))
    result.pairs = comparison_pairs(result.systems)
    return result


def comparison_pairs(systems: Sequence[SystemResult]) -> list[tuple[str, str]]:
    """The paired differences a comparison reports: every system against the first one, against
    each baseline, and each method's other strategies against that method's first strategy (e.g.
    LoRA + combined vs LoRA + zero-shot). Rows on other questions are left out."""
    plain = [s for s in systems if not s.info.get("other_questions")]
    if not plain:
        return []
    reference = plain[0].name
    pairs = [(s.name, reference) for s in plain[1:]]
    baselines = [s.name for s in plain if s.info.get("method") == "-"]
    pairs += [(s.name, b) for b in baselines for s in plain if s.name not in (b, reference)]
    first_of: dict[str, str] = {}
    for s in plain:
        method = s.info.get("method")
        if method in (None, "-"):
            continue
        first = first_of.setdefault(method, s.name)
        if s.name != first and (s.name, first) not in pairs:
            pairs.append((s.name, first))
    return pairs


def run_configured_comparison(
    config: Config,
    *,
    out_dir: str | Path,
    progress: bool = True,
    limit: int | None = None,
    on_system: Callable[[SystemResult], None] | None = None,
) -> ComparisonResult:
    """:func:`run_comparison` with the grid of ``config.evaluation``."""
    e = config.evaluation
    return run_comparison(
        config,
        methods=e.methods,
        strategies=e.strategies,
        tuned_strategies=e.tuned_strategies,
        baselines=e.baselines,
        leave_out_intents=e.leave_out_intents,
        limit=limit or e.max_examples,
        out_dir=out_dir,
        progress=progress,
        on_system=on_system,
    )
