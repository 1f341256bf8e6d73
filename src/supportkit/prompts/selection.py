"""Example selectors for few-shot prompts: similarity (optionally MMR), random (seeded), fixed.

Every selector skips duplicates: two examples whose questions read the same (case and spacing
aside) never fill two slots of one prompt; the first (best ranked) one is kept.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from supportkit.data.readers import QAExample
from supportkit.registry import Registry
from supportkit.retrieval.bank import BankSnapshot, ExampleBank
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


def _key(example: QAExample) -> str:
    return re.sub(r"\s+", " ", example.question).strip().casefold()


def _unique(snapshot: BankSnapshot, indices: Sequence[int], k: int) -> list[int]:
    """The first ``k`` of ``indices`` whose questions differ."""
    seen: set[str] = set()
    out: list[int] = []
    for i in indices:
        key = _key(snapshot.examples[i])
        if key not in seen:
            seen.add(key)
            out.append(i)
            if len(out) == k:
                break
    return out


def _candidates(snapshot: BankSnapshot, intent: str | None) -> list[int]:
    pool = [i for i, e in enumerate(snapshot.examples) if intent is None or e.intent == intent]
    return _unique(snapshot, pool, len(pool))


def _ranked_unique(
    rank: Callable[[int], tuple[np.ndarray, np.ndarray]], snapshot: BankSnapshot, k: int, pool: int
) -> list[tuple[int, float]]:
    """``k`` distinct examples from a ranking, asking it for more until enough are distinct."""
    fetch = k
    while True:
        idx, scores = rank(min(fetch, pool))
        score = {int(i): float(s) for i, s in zip(idx, scores, strict=True)}
        keep = _unique(snapshot, [int(i) for i in idx], k)
        if len(keep) >= k or fetch >= pool:
            return [(i, score[i]) for i in keep]
        fetch *= 4


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
        pool = len(snapshot) if mask is None else int(mask.sum())
        lambda_ = self.mmr_lambda

        def rank(n: int) -> tuple[np.ndarray, np.ndarray]:
            if lambda_ is None:
                return top_k(snapshot.vectors, q, n, mask)
            return mmr(snapshot.vectors, q, n, lambda_=lambda_, mask=mask)

        chosen = _ranked_unique(rank, snapshot, k, pool) if pool else []
        return [Selected(snapshot.examples[i], s) for i, s in chosen]


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
