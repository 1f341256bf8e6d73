"""``Evaluator``: a dataset through the one :class:`InferencePipeline`, scored with intervals.

    evaluator = Evaluator(pipeline, intent_reference=train)
    result = evaluator.evaluate(test, name="lora + combined", strategy="combined")
    print(result.metrics["rougeL"].format())      # 0.412 [0.389, 0.436]

Every metric of the registry is computed per example; the response adds latency, escalation and
(with labelled training answers) intent accuracy. Aggregates are means with bootstrap intervals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from supportkit.data.readers import Conversation, QAExample
from supportkit.evaluation.metrics import METRICS, score
from supportkit.evaluation.stats import Interval, bootstrap_mean
from supportkit.guardrails.intent import IntentDetector
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import Embedder, default_embedder

DEFAULT_METRICS = (
    "rougeL",
    "rouge1",
    "bleu",
    "similarity",
    "detail_recall",
    "length",
    "placeholder_leak",
)


@dataclass(frozen=True)
class EvalExample:
    question: str
    reference: str
    intent: str | None = None
    #: Earlier turns of a multi-turn conversation (user/assistant messages, oldest first).
    history: tuple[Mapping[str, str], ...] = ()
    id: str | None = None

    @classmethod
    def from_conversation(cls, conversation: Conversation) -> EvalExample:
        turns = [m for m in conversation.messages if m["role"] in ("user", "assistant")]
        last_user = max(i for i, m in enumerate(turns) if m["role"] == "user")
        return cls(
            question=conversation.question,
            reference=conversation.answer,
            intent=conversation.intent,
            history=tuple(turns[:last_user]),
            id=conversation.source or None,
        )


@dataclass
class SystemResult:
    """One evaluated system: per-example rows and aggregate metrics with intervals."""

    name: str
    rows: list[dict[str, Any]]
    metrics: dict[str, Interval]
    #: Anything describing the system: method, strategy, trainable parameters, training summary.
    info: dict[str, Any] = field(default_factory=dict)

    def values(self, metric: str) -> list[float]:
        """The metric per row; NaN where it does not apply (``None`` in a report read back, or absent)."""
        return [float("nan") if r.get(metric) is None else float(r[metric]) for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "info": self.info,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "rows": self.rows,
        }


class AnswerIntent:
    """Intent accuracy of answers: an answer's intent is that of the nearest labelled training
    answer (cosine on MiniLM); a correct answer to a refund question reads like refund answers."""

    def __init__(self, reference: Sequence[EvalExample], embedder: Embedder, k: int = 1) -> None:
        bank = ExampleBank(embedder=embedder)
        bank.extend([QAExample(e.reference, e.reference, e.intent) for e in reference if e.intent])
        self.detector = IntentDetector(bank, k)

    def predict(self, answers: Sequence[str]) -> list[str | None]:
        vectors = self.detector.bank.embedder.embed([a if a.strip() else " " for a in answers])
        return [
            self.detector.detect(a, v).intent if a.strip() else None
            for a, v in zip(answers, vectors, strict=True)
        ]


class Evaluator:
    def __init__(
        self,
        pipeline: Any,
        *,
        metrics: Sequence[str] = DEFAULT_METRICS,
        intent_reference: Sequence[EvalExample] | None = None,
        resamples: int = 2000,
        seed: int = 0,
        embedder: Embedder | None = None,
    ) -> None:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            METRICS.get(unknown[0])  # raises, listing the known metrics
        self.pipeline, self.metrics = pipeline, list(metrics)
        self.resamples, self.seed = resamples, seed
        if embedder is None:
            embedder = pipeline.bank.embedder if pipeline is not None else default_embedder()
        self.embedder: Embedder = embedder
        self.answer_intent = AnswerIntent(intent_reference, embedder) if intent_reference else None

    def evaluate(
        self,
        examples: Sequence[EvalExample],
        *,
        name: str,
        strategy: str | None = None,
        adapter: str | None = None,
        info: Mapping[str, Any] | None = None,
        progress: bool = True,
        chunk: int | None = None,
    ) -> SystemResult:
        """Answer every example (batched through the pipeline) and score the answers.

        The progress bar moves as each question is answered. Each row records its own latency
        (``latency_s``: to the last token, ``ttft_s``: to the first, both from the start of its
        batch); the system's ``info`` gets the throughput of the whole run (``answers_per_s``,
        ``generated_tokens_per_s``, ``generation_s``), which batching raises and latency does not show."""
        from tqdm.auto import tqdm

        size = chunk or self.pipeline.config.generation.batch_size * 2
        responses: list[Any] = []
        started = time.perf_counter()
        with tqdm(total=len(examples), desc=name, disable=not progress, unit="q") as bar:
            for start in range(0, len(examples), size):
                part = examples[start : start + size]
                # plain mappings: the pipeline builds its Request (evaluation sits below pipelines)
                requests = [
                    {
                        "query": e.question,
                        "strategy": strategy,
                        "history": list(e.history),
                        "adapter": adapter,
                    }
                    for e in part
                ]
                responses.extend(self.pipeline.respond_batch(requests, on_answered=lambda _: bar.update(1)))
        elapsed = time.perf_counter() - started
        throughput = {
            "generation_s": round(elapsed, 2),
            "answers_per_s": round(len(examples) / elapsed, 3) if elapsed > 0 else None,
            "generated_tokens_per_s": round(sum(r.generated_tokens for r in responses) / elapsed, 1)
            if elapsed > 0
            else None,
        }
        return self.score_responses(
            name, examples, responses, info={"strategy": strategy, **throughput, **(info or {})}
        )

    def score_responses(
        self,
        name: str,
        examples: Sequence[EvalExample],
        responses: Sequence[Any],
        info: Mapping[str, Any] | None = None,
    ) -> SystemResult:
        """Score pipeline responses (anything with the ``Response`` fields used here: text,
        latency_s, ttft_s (optional), escalate, generated_tokens, intent, groundedness)."""
        extra = [
            {
                "latency_s": r.latency_s,
                "ttft_s": getattr(r, "ttft_s", None),
                "escalated": float(r.escalate),
                "generated_tokens": float(r.generated_tokens),
                "detected_intent": r.intent,
                "groundedness": r.groundedness,
            }
            for r in responses
        ]
        return self.score_predictions(name, examples, [r.text for r in responses], extra, info)

    def score_predictions(
        self,
        name: str,
        examples: Sequence[EvalExample],
        predictions: Sequence[str],
        extra: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> SystemResult:
        """Score given answers (also for systems outside the pipeline, e.g. baselines)."""
        if len(predictions) != len(examples):
            raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples")
        predictions = [p if isinstance(p, str) else "" for p in predictions]
        scores = score(predictions, [e.reference for e in examples], self.metrics)
        rows: list[dict[str, Any]] = []
        for i, (e, p) in enumerate(zip(examples, predictions, strict=True)):
            row: dict[str, Any] = {
                "id": e.id,
                "intent": e.intent,
                "question": e.question,
                "reference": e.reference,
                "prediction": p,
            }
            row.update({m: scores[m][i] for m in self.metrics})
            row.update(extra[i] if extra else {})
            rows.append(row)
        if self.answer_intent is not None and any(e.intent for e in examples):
            for row, guess in zip(rows, self.answer_intent.predict(predictions), strict=True):
                row["answer_intent"] = guess
                row["intent_accuracy"] = float(guess == row["intent"]) if row["intent"] else float("nan")
        keys = dict.fromkeys(k for r in rows for k, v in r.items() if _is_number(v))
        metrics = {
            k: bootstrap_mean(
                [r[k] for r in rows if _is_number(r.get(k))], resamples=self.resamples, seed=self.seed
            )
            for k in keys
        }
        return SystemResult(name, rows, metrics, dict(info or {}))


def add_metrics(
    system: SystemResult, names: Sequence[str], *, resamples: int = 2000, seed: int = 0
) -> SystemResult:
    """Score a finished system (e.g. one read back from ``report.json``) with more metrics, such
    as a custom one registered after the run: its stored answers are scored, nothing regenerates."""
    predictions = [str(r.get("prediction") or "") for r in system.rows]
    scores = score(predictions, [str(r.get("reference") or "") for r in system.rows], list(names))
    for name, values in scores.items():
        for row, value in zip(system.rows, values, strict=True):
            row[name] = value
        system.metrics[name] = bootstrap_mean(values, resamples=resamples, seed=seed)
    return system


def timed_predictions(
    answer: Callable[[str], str], examples: Sequence[EvalExample]
) -> tuple[list[str], list[dict]]:
    """Answers of a plain function (e.g. a baseline) with each call's latency."""
    predictions, extra = [], []
    for e in examples:
        start = time.perf_counter()
        predictions.append(answer(e.question))
        extra.append({"latency_s": time.perf_counter() - start, "escalated": 0.0})
    return predictions, extra


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.floating) and not isinstance(value, bool)
