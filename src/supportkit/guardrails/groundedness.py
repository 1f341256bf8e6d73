"""Groundedness: the share of an answer's factual sentences supported by the retrieved passages.

A sentence is supported when it is close in meaning to a sentence of a passage (MiniLM cosine at
least ``threshold``) *and* every number in it (days, amounts, percentages) appears in the
passages, the question or the customer's context. The second test matters: an embedding places
"returns within 90 days" right next to "returns within 30 days", so similarity alone would call
a contradicted figure supported. Courtesy sentences ("Sorry to hear that.") are not claims and are
not counted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from supportkit.retrieval.embedder import Embedder
from supportkit.retrieval.passages import Passage

_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_COURTESY = re.compile(
    r"\b(sorry|apologi[sz]e|thank|glad|happy to help|let me know|anything else|have a (great|nice|good)"
    r"|hope this helps|you're welcome|feel free)\b",
    re.IGNORECASE,
)


def sentences(text: str) -> list[str]:
    return [s.strip(" -*•\t") for s in _SPLIT.split(text) if len(s.strip(" -*•\t")) > 1]


def is_claim(sentence: str) -> bool:
    if _NUMBER.search(sentence):
        return True
    return not _COURTESY.search(sentence) and len(sentence.split()) >= 4


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


@dataclass
class Groundedness:
    #: Supported claims / claims (1.0 when the answer makes no claim).
    score: float
    claims: int
    unsupported: list[str] = field(default_factory=list)
    #: Article ids by how many claims they support, most first (the answer's citations).
    articles: list[str] = field(default_factory=list)


class GroundednessChecker:
    def __init__(self, embedder: Embedder, threshold: float = 0.55) -> None:
        self.embedder, self.threshold = embedder, threshold
        self._cache: dict[str, tuple[list[str], np.ndarray]] = {}

    def _passage_sentences(self, passage: Passage) -> tuple[list[str], np.ndarray]:
        key = f"{passage.id}\0{passage.text}"
        if key not in self._cache:
            parts = sentences(passage.text) or [passage.text]
            self._cache[key] = (parts, self.embedder.embed([f"{passage.title}: {p}" for p in parts]))
        return self._cache[key]

    def check(self, answer: str, passages: Sequence[Passage], context: Iterable[str] = ()) -> Groundedness:
        claims = [s for s in sentences(answer) if is_claim(s)]
        if not claims:
            return Groundedness(1.0, 0)
        if not passages:
            return Groundedness(0.0, len(claims), unsupported=claims)
        owners: list[str] = []
        blocks: list[np.ndarray] = []
        for p in passages:
            parts, vectors = self._passage_sentences(p)
            owners.extend([p.article_id] * len(parts))
            blocks.append(vectors)
        source = np.vstack(blocks)
        known_numbers = _numbers(" ".join([*(p.text for p in passages), *context]))
        sims = self.embedder.embed(claims) @ source.T
        supported, unsupported, counts = 0, [], Counter[str]()
        for claim, row in zip(claims, sims, strict=True):
            best = int(np.argmax(row))
            if row[best] >= self.threshold and _numbers(claim) <= known_numbers:
                supported += 1
                counts[owners[best]] += 1
            else:
                unsupported.append(claim)
        return Groundedness(
            supported / len(claims), len(claims), unsupported, [a for a, _ in counts.most_common()]
        )
