"""Intent detection by nearest labelled examples (k-NN vote over MiniLM embeddings).

The labelled examples are any :class:`~supportkit.retrieval.bank.ExampleBank` whose examples carry
intents: the few-shot bank by default, or a dataset file (``guardrails.intent_file``), whose
vectors are cached by file content like every bank file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from supportkit.data.readers import QAExample
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.index import top_k


@dataclass(frozen=True)
class IntentGuess:
    #: The winning intent (``None`` when no labelled example exists).
    intent: str | None
    #: The winner's share of the similarity-weighted vote among the k nearest examples (0-1).
    confidence: float
    #: Cosine similarity of the nearest labelled example: how familiar the request is at all.
    similarity: float


class IntentDetector:
    """``detect(query)`` -> the intent voted by the ``k`` most similar labelled examples."""

    def __init__(self, bank: ExampleBank, k: int = 7) -> None:
        self.bank, self.k = bank, k

    @property
    def labelled(self) -> int:
        return sum(e.intent is not None for e in self.bank.snapshot().examples)

    def detect(self, query: str, vector: np.ndarray | None = None) -> IntentGuess:
        snapshot = self.bank.snapshot()
        mask = np.array([e.intent is not None for e in snapshot.examples], dtype=bool)
        if not mask.any():
            return IntentGuess(None, 0.0, 0.0)
        q = vector if vector is not None else self.bank.embed_query(query)
        idx, sims = top_k(snapshot.vectors, q, self.k, mask)
        votes: dict[str, float] = defaultdict(float)
        for i, s in zip(idx, sims, strict=True):
            votes[str(snapshot.examples[i].intent)] += max(float(s), 1e-6)
        intent, weight = max(votes.items(), key=lambda kv: kv[1])
        return IntentGuess(intent, weight / sum(votes.values()), float(sims[0]))

    def accuracy(self, examples: Sequence[QAExample]) -> float:
        """Share of labelled ``examples`` whose intent is detected (e.g. a held-out split)."""
        labelled = [e for e in examples if e.intent]
        if not labelled:
            raise ValueError("no labelled examples to measure intent accuracy on")
        vectors = self.bank.embedder.embed([e.question for e in labelled])
        hits = sum(
            self.detect(e.question, v).intent == e.intent for e, v in zip(labelled, vectors, strict=True)
        )
        return hits / len(labelled)
