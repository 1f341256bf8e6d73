"""Lexical scoring with BM25 (``rank-bm25``), for fusing with embedding similarity.

The cost of a query is bounded: see :class:`BM25Scorer` (``max_query_terms``)."""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Sequence

import numpy as np

from supportkit.retrieval.limits import MAX_QUERY_TERMS

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
    """BM25 (Okapi, ``rank-bm25``'s IDF and parameters) over a fixed corpus, scores in [0, 1] per query.

    Scoring walks an inverted index (term -> the passages holding it), so a query term costs the
    number of passages that contain it, not the corpus size. A query counts at most
    ``max_query_terms`` distinct terms (``None``: all): past that, the most informative ones
    (highest IDF, i.e. rarest in the corpus; earlier first on ties) are kept. Terms the corpus
    never uses score nothing and are dropped first. A term repeated in the query counts as often as
    it appears, as in ``rank-bm25``: below the cap the scores equal ``BM25Okapi.get_scores``.
    """

    def __init__(self, documents: Sequence[str], *, max_query_terms: int | None = MAX_QUERY_TERMS) -> None:
        from rank_bm25 import BM25Okapi

        if max_query_terms is not None and max_query_terms < 1:
            raise ValueError(f"max_query_terms must be at least 1 (or None), got {max_query_terms}")
        self.max_query_terms = max_query_terms
        tokenized = [tokenize(d) or ["<empty>"] for d in documents]
        self._bm25 = BM25Okapi(tokenized)
        self._idf: dict[str, float] = self._bm25.idf
        self._vocab: dict[str, int] = {}
        terms, docs, freqs = array("i"), array("i"), array("f")
        for doc, frequencies in enumerate(self._bm25.doc_freqs):
            for word, tf in frequencies.items():
                terms.append(self._vocab.setdefault(word, len(self._vocab)))
                docs.append(doc)
                freqs.append(tf)
        term_ids = np.frombuffer(terms, dtype=np.int32)
        order = np.argsort(term_ids, kind="stable")
        self._docs = np.frombuffer(docs, dtype=np.int32)[order]
        self._tfs = np.frombuffer(freqs, dtype=np.float32)[order].astype(np.float64)
        counts = np.bincount(term_ids, minlength=len(self._vocab))
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        k1, b = self._bm25.k1, self._bm25.b
        lengths = np.asarray(self._bm25.doc_len, dtype=np.float64)
        self._k1 = k1
        self._norm = k1 * (1 - b + b * lengths / self._bm25.avgdl)

    def __len__(self) -> int:
        return len(self._norm)

    def query_terms(self, query: str) -> dict[str, int]:
        """The distinct query terms that are scored, with how often each occurs in the query."""
        counts = Counter(t for t in tokenize(query) if t in self._vocab)
        cap = self.max_query_terms
        if cap is None or len(counts) <= cap:
            return dict(counts)
        ranked = sorted(counts, key=lambda t: -self._idf.get(t, 0.0))  # stable: first seen wins ties
        return {t: counts[t] for t in ranked[:cap]}

    def scores(self, query: str) -> np.ndarray:
        """Raw BM25 score of every document for ``query``: float64 of shape (documents,)."""
        out = np.zeros(len(self._norm), dtype=np.float64)
        for term, count in self.query_terms(query).items():
            idf = self._idf.get(term) or 0.0
            tid = self._vocab[term]
            start, end = self._starts[tid], self._starts[tid + 1]
            docs, tf = self._docs[start:end], self._tfs[start:end]
            out[docs] += count * idf * (tf * (self._k1 + 1) / (tf + self._norm[docs]))
        return out

    def normalised_scores(self, query: str) -> np.ndarray:
        """``scores`` divided by the best one (all zeros when nothing matches): float32."""
        scores = self.scores(query).astype(np.float32)
        top = float(scores.max()) if scores.size else 0.0
        return scores / top if top > 0 else np.zeros_like(scores)
