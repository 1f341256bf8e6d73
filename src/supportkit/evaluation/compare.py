"""The pieces a comparison is made of: the held-out data, the few-shot bank of the train split,
the baselines without a language model, and which paired differences to report.

The comparison itself (train each method, evaluate each strategy) is the recipe
:mod:`supportkit.recipes.compare`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from supportkit.config import Config
from supportkit.data.loader import DataLoader
from supportkit.data.splits import Splits
from supportkit.evaluation.baselines import NearestNeighbourBaseline
from supportkit.evaluation.evaluator import EvalExample, Evaluator, SystemResult, timed_predictions
from supportkit.evaluation.sampling import stratified_sample
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import default_embedder

log = logging.getLogger(__name__)

BASELINES = ("nearest_neighbour",)


@dataclass
class EvalData:
    splits: Splits
    train: list[EvalExample]
    test: list[EvalExample]


def load_eval_data(config: Config, *, split: str = "test", limit: int | None = None) -> EvalData:
    """The configured data file split as training does it (same seed, dedup, held-out intents).

    ``limit`` keeps a seeded sample stratified by intent (``data.seed``; every intent present
    whenever ``limit`` >= the number of intents), never the first rows in file order."""
    loader = DataLoader(config)
    conversations, _ = loader.read()
    splits = loader.split(conversations)
    held = getattr(splits, split)
    if not held:
        raise ValueError(
            f"the {split} split is empty: raise data.{'val' if split == 'validation' else split}_split"
        )
    examples = [EvalExample.from_conversation(c) for c in held]
    test = stratified_sample(examples, limit, key=lambda e: e.intent, seed=config.data.seed)
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
