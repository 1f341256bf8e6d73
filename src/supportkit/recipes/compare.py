"""The technique comparison: adaptation methods x prompt strategies on one split, seed and step
budget, plus baselines without a language model, in one table with intervals.

    result = run_comparison(config, methods=["none", "lora"], strategies=["zero_shot", "few_shot"])
    write_report(out, result.systems, comparisons=result.pairs)

A strategy may name its example selector: ``few_shot:random`` next to ``few_shot:similarity``.
Each method is trained with :func:`~supportkit.recipes.finetune.finetune` on the same data, seed and
``training.max_steps`` (per-method learning rates in :data:`METHOD_OVERRIDES`, as full fine-tuning
and IA3 want very different ones), saved, measured (trainable parameters, adapter size, peak
memory, time, tokens/s), then every strategy is evaluated through the one
:class:`InferencePipeline`, whose few-shot bank is the train split.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.errors import ConfigError
from supportkit.evaluation.compare import (
    BASELINES,
    comparison_pairs,
    evaluate_baseline,
    load_eval_data,
    train_bank,
)
from supportkit.evaluation.evaluator import Evaluator, SystemResult
from supportkit.evaluation.sampling import stratified_sample
from supportkit.pipelines.checkpoints import PATTERN, ResumeError
from supportkit.recipes.finetune import finetune
from supportkit.retrieval.embedder import make_embedder

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


@dataclass
class ComparisonResult:
    systems: list[SystemResult]
    #: (a, b) system-name pairs whose paired differences the report shows.
    pairs: list[tuple[str, str]] = field(default_factory=list)
    training_logs: dict[str, str] = field(default_factory=dict)


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def parameter_info(model: Any) -> dict[str, Any]:
    """A report's parameter columns for ``model``: its trainable (adapter) parameters and their
    share of all parameters (0 for the base model alone)."""
    trainable, total = model.trainable_parameters()
    return {"trainable_params": trainable, "trainable_pct": round(100 * trainable / max(total, 1), 3)}


#: ``info`` keys measured by training (kept from an earlier run when its training is resumed).
TRAINING_KEYS = ("peak_memory_mb", "train_time_s", "train_tokens_per_s", "train_steps")


def _trained(
    method: str, cfg: Config, adapter_dir: Path, resume_from: str | None = None
) -> tuple[Any, dict[str, Any]]:
    """The model for ``method``, trained per ``cfg`` (unless ``none``), and what describes it.
    ``resume_from="auto"`` continues from the newest checkpoint in ``training.output_dir``; the
    time and tokens/s then cover only the steps trained since (``train_resumed_at_step`` says so)."""
    from supportkit.models.peft import PEFTModel

    model = PEFTModel(cfg)
    info: dict[str, Any] = {"method": method, **parameter_info(model)}
    if method != "none":
        result = finetune(cfg, model=model, adapter_dir=adapter_dir, resume_from=resume_from, say=log.info)
        summary, saved = result.summary, result.adapter or adapter_dir
        info.update(
            adapter_mb=round(_dir_mb(saved), 2),
            peak_memory_mb=round(summary.peak_memory_mb),
            train_time_s=round(summary.train_time_s, 1),
            train_tokens_per_s=round(summary.tokens_per_s, 1),
            train_steps=summary.steps,
        )
        resumed = PATTERN.match(Path(summary.resumed_from).name) if summary.resumed_from else None
        if resumed:  # checkpoint-<step>
            info["train_resumed_at_step"] = int(resumed.group(1))
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
    unseen = stratified_sample(
        [e for e in data.test if e.intent in set(intents)],
        (limit or len(data.test)) // 2 or None,
        key=lambda e: e.intent,
        seed=config.data.seed,
    )
    model, info = _trained("lora", cfg, out / "adapters" / "lora-unseen-intents")
    info.update(other_questions=True, left_out=", ".join(intents), key=UNSEEN_KEY)
    pipeline = InferencePipeline(model, cfg, bank=train_bank(data.train))
    evaluator = Evaluator(pipeline, seed=cfg.training.seed)
    name = f"lora + zero_shot, on intents left out of training ({len(unseen)} questions)"
    return evaluator.evaluate(unseen, name=name, strategy="zero_shot", info=info, progress=progress)


#: ``info["key"]`` of the left-out-intents row (its name holds its question count).
UNSEEN_KEY = "lora, intents left out"


def system_key(system: SystemResult) -> str:
    """What identifies a system across runs of one comparison (``info["key"]``, else its name)."""
    return str(system.info.get("key") or system.name)


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
    finished: Sequence[SystemResult] = (),
    say: Callable[[str], None] | None = None,
    resume_training: bool = True,
) -> ComparisonResult:
    """Train each method, evaluate each strategy with it, and add the baselines. With
    ``leave_out_intents``, one more LoRA is trained without those intents and evaluated on them
    (a row on other questions, outside the paired comparisons).

    ``finished`` systems (of an earlier run of the same comparison, see
    :mod:`supportkit.evaluation.resume`) are kept as they are: a method whose systems are all
    finished is not trained again, and finished systems the grid no longer names are kept last.
    ``say`` gets a line before each step that precedes generation (data, few-shot bank,
    training), so a long preparation is never silent."""
    from supportkit.pipelines.inference import InferencePipeline

    unknown = [m for m in methods if m not in METHOD_OVERRIDES]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHOD_OVERRIDES)}")
    tell = say or log.info
    out = Path(out_dir)
    kept = {system_key(s): s for s in finished}
    result = ComparisonResult([])

    def add(system: SystemResult) -> None:
        result.systems.append(system)
        if on_system is not None:
            on_system(system)

    def specs(method: str) -> Sequence[str]:
        return strategies if method == "none" or tuned_strategies is None else tuned_strategies

    todo = [m for m in methods if any(f"{m} + {spec}" not in kept for spec in specs(m))]
    tell(
        f"preparing: reading and splitting {config.data.train_file} (near-duplicate check embeds each "
        "question once), few-shot bank of the train split"
    )
    data = load_eval_data(config, limit=limit)
    embedder = make_embedder(config.knowledge.embedder)
    bank = train_bank(data.train, embedder)
    tell(f"{len(data.test)} questions, {len(data.train)} training examples; to run: {', '.join(todo) or '-'}")
    if todo or baselines:
        tell(f"embedding the {len(data.train)} training answers once (intent accuracy of every system)")
        embedder.embed([e.reference for e in data.train])
    for method in methods:
        log_dir = out / "train" / method
        if method != "none" and (method in todo or (log_dir / "metrics.jsonl").is_file()):
            result.training_logs[method] = str(log_dir)
        if method not in todo:
            for spec in specs(method):
                result.systems.append(kept[f"{method} + {spec}"])
            continue
        cfg = config.with_overrides([*METHOD_OVERRIDES[method], f"training.output_dir={log_dir}"])
        steps = cfg.training.max_steps
        tell(f"{method}: loading the model" + (f", training {steps} steps" if method != "none" else ""))
        resume = "auto" if resume_training else None
        try:
            model, info = _trained(method, cfg, out / "adapters" / method, resume_from=resume)
        except ResumeError as exc:  # e.g. the report was deleted, the checkpoints of other settings kept
            raise ConfigError(
                f"{exc}. In a comparison: pass --restart to train {method} from scratch (the earlier "
                f"checkpoints move to {log_dir / 'earlier-runs'}), or set evaluation.output_dir to a new "
                "folder"
            ) from exc
        names = [f"{method} + {spec}" for spec in specs(method)]
        earlier = next((kept[name].info for name in names if name in kept), None)
        if earlier is not None and "train_resumed_at_step" in info:  # measured when it was trained
            info.pop("train_resumed_at_step")
            info.update({k: earlier[k] for k in TRAINING_KEYS if k in earlier})
        for spec in specs(method):
            name = f"{method} + {spec}"
            if name in kept:
                result.systems.append(kept[name])
                continue
            strategy, _, selector = spec.partition(":")
            scfg = cfg.with_overrides([f"prompt.selector={selector}"]) if selector else cfg
            pipeline = InferencePipeline(model, scfg, bank=bank)
            evaluator = Evaluator(pipeline, intent_reference=data.train, seed=cfg.training.seed)
            tell(f"{name}: answering {len(data.test)} questions")
            add(
                evaluator.evaluate(
                    data.test, name=name, strategy=strategy, info=dict(info), progress=progress
                )
            )
        del model
    if leave_out_intents:
        if UNSEEN_KEY in kept:
            result.systems.append(kept[UNSEEN_KEY])
        else:
            tell(f"training a LoRA without {', '.join(leave_out_intents)} (the left-out-intents row)")
            add(_unseen_intents_row(config, leave_out_intents, out, limit, progress))
    if baselines:
        evaluator = Evaluator(None, intent_reference=data.train, embedder=embedder)
        for name in baselines:
            key = f"baseline {name}"
            if key in kept:
                result.systems.append(kept[key])
                continue
            system = evaluate_baseline(name, data, evaluator)
            system.info["key"] = key
            add(system)
    # finished systems this grid no longer names stay in the report: nothing measured is lost
    used = {id(s) for s in result.systems}
    result.systems += [s for s in finished if id(s) not in used]
    result.pairs = comparison_pairs(result.systems)
    return result


def run_configured_comparison(
    config: Config,
    *,
    out_dir: str | Path,
    progress: bool = True,
    limit: int | None = None,
    on_system: Callable[[SystemResult], None] | None = None,
    finished: Sequence[SystemResult] = (),
    say: Callable[[str], None] | None = None,
    resume_training: bool = True,
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
        finished=finished,
        say=say,
        resume_training=resume_training,
    )
