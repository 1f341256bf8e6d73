"""Lexical scoring with BM25 (``rank-bm25``), for fusing with embedding similarity."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

# Function words carry no topic; dropping them keeps BM25 from rewarding "how do I ..." overlap.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "them",
        "there",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


def tokenize(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words if w not in STOPWORDS]


class BM25Scorer:
    """BM25 (Okapi) over a fixed corpus, scores normalised to [0, 1] per query."""

    def __init__(self, documents: Sequence[str]) -> None:
        from rank_bm25 import BM25Okapi

        tokenized = [tokenize(d) or ["<empty>"] for d in documents]
        self._bm25 = BM25Okapi(tokenized)

    def normalised_scores(self, query: str) -> np.ndarray:
        scores = np.asarray(self._bm25.get_scores(tokenize(query)), dtype=np.float32)
        top = float(scores.max()) if scores.size else 0.0
        return scores / top if top > 0 else np.zeros_like(scores)
