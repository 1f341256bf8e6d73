"""Example selectors for few-shot prompts: similarity (optionally MMR), random (seeded), fixed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from supportkit.data.readers import QAExample
from supportkit.prompts.bank import BankSnapshot, ExampleBank
from supportkit.registry import Registry
from supportkit.retrieval.index import mmr, top_k


@dataclass(frozen=True)
class Selected:
    example: QAExample
    #: Cosine similarity to the query (``None`` for selectors that do not compute it).
    score: float | None


class Selector(Protocol):
    def select(
        self, bank: ExampleBank, query: str, k: int, *, intent: str | None = None
    ) -> list[Selected]: ...


SELECTORS: Registry[type] = Registry("example selector")


def _candidates(snapshot: BankSnapshot, intent: str | None) -> list[int]:
    return [i for i, e in enumerate(snapshot.examples) if intent is None or e.intent == intent]


@SELECTORS.register("similarity")
class SimilaritySelector:
    """The k examples whose questions are nearest the query (cosine on MiniLM embeddings).

    With ``mmr_lambda`` set, maximal marginal relevance trades similarity for diversity.
    """

    def __init__(self, mmr_lambda: float | None = None, seed: int = 0) -> None:
        self.mmr_lambda = mmr_lambda

    def select(self, bank: ExampleBank, query: str, k: int, *, intent: str | None = None) -> list[Selected]:
        snapshot = bank.snapshot()
        if k <= 0 or len(snapshot) == 0:
            return []
        q = bank.embed_query(query)
        mask = snapshot.intent_mask(intent)
        if self.mmr_lambda is None:
            idx, scores = top_k(snapshot.vectors, q, k, mask)
        else:
            idx, scores = mmr(snapshot.vectors, q, k, lambda_=self.mmr_lambda, mask=mask)
        return [Selected(snapshot.examples[i], float(s)) for i, s in zip(idx, scores, strict=True)]


@SELECTORS.register("random")
class RandomSelector:
    """k random examples; the same seed and query always give the same choice."""

    def __init__(self, mmr_lambda: float | None = None, seed: int = 0) -> None:
        self.seed = seed

    def select(self, bank: ExampleBank, query: str, k: int, *, intent: str | None = None) -> list[Selected]:
        snapshot = bank.snapshot()
        pool = _candidates(snapshot, intent)
        rng = random.Random(f"{self.seed}\0{query}")
        chosen = rng.sample(pool, min(k, len(pool))) if k > 0 else []
        return [Selected(snapshot.examples[i], None) for i in chosen]


@SELECTORS.register("fixed")
class FixedSelector:
    """The first k examples of the bank (a curated, stable set)."""

    def __init__(self, mmr_lambda: float | None = None, seed: int = 0) -> None:
        pass

    def select(self, bank: ExampleBank, query: str, k: int, *, intent: str | None = None) -> list[Selected]:
        snapshot = bank.snapshot()
        return [Selected(snapshot.examples[i], None) for i in _candidates(snapshot, intent)[: max(k, 0)]]


def make_selector(name: str, *, mmr_lambda: float | None = None, seed: int = 0) -> Selector:
    cls = SELECTORS.get(name)
    selector: Selector = cls(mmr_lambda=mmr_lambda, seed=seed)
    return selector
