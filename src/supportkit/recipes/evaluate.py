"""The evaluation recipe: one model (base or a saved adapter) with each configured strategy, plus
the baselines, on the held-out split; the report pairs every system with the first one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supportkit.config import Config
from supportkit.evaluation.compare import evaluate_baseline, load_eval_data, train_bank
from supportkit.evaluation.evaluator import Evaluator, SystemResult
from supportkit.recipes.compare import parameter_info
from supportkit.retrieval.embedder import make_embedder


@dataclass
class EvaluationResult:
    systems: list[SystemResult]
    #: What was evaluated: the adapter path, or ``<base model> (base model, no adapter)``.
    label: str
    examples: int
    pairs: list[tuple[str, str]] = field(default_factory=list)


def evaluate_configured(
    config: Config, *, limit: int | None = None, progress: bool = True
) -> EvaluationResult:
    """Evaluate ``config.evaluation.adapter`` (or the configured base model) with each of
    ``config.evaluation.strategies`` and ``baselines`` on ``config.evaluation.split``."""
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.inference import InferencePipeline

    e = config.evaluation
    data = load_eval_data(config, split=e.split, limit=limit or e.max_examples)
    if e.adapter:
        model: Any = PEFTModel.from_saved(e.adapter, config)
        label, name = e.adapter, model.method
    else:  # no adapter: the base model itself, never a freshly initialised (untrained) adapter
        model = PEFTModel(config.with_overrides(["peft.method=none"]))
        label, name = f"{config.model.name_or_path} (base model, no adapter)", "none"
    bank = train_bank(data.train, make_embedder(config.knowledge.embedder))
    pipeline = InferencePipeline(model, config, bank=bank)
    evaluator = Evaluator(pipeline, intent_reference=data.train, resamples=e.bootstrap_resamples)
    info = {"model": label, **parameter_info(model)}
    systems = [
        evaluator.evaluate(data.test, name=f"{name} + {s}", strategy=s, info=dict(info), progress=progress)
        for s in e.strategies
    ]
    systems += [evaluate_baseline(b, data, evaluator) for b in e.baselines]
    pairs = [(s.name, systems[0].name) for s in systems[1:]]
    return EvaluationResult(systems, label, len(data.test), pairs)
