"""Exact cosine search over normalised vectors in numpy (fast enough below ~100k rows)."""

from __future__ import annotations

import numpy as np
from threadpoolctl import ThreadpoolController

# numpy's OpenBLAS threads spin-wait after a product and then fight torch's OpenMP threads for
# the cores, which made the next MiniLM query embedding 2-3x slower. A matrix-vector product is
# memory-bound anyway, so it runs on one BLAS thread. (One controller: scanning the loaded
# libraries on every call would cost more than the search.)
_BLAS = ThreadpoolController()


def cosine_scores(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``matrix @ query`` on one BLAS thread: shape (rows,), float32."""
    with _BLAS.limit(limits=1, user_api="blas"):
        return matrix @ query.astype(np.float32, copy=False)


def top_k(
    matrix: np.ndarray, query: np.ndarray, k: int, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine scores of the ``k`` rows of ``matrix`` nearest to ``query``.

    Rows and query must be L2-normalised. ``mask`` (bool per row) restricts the candidates.
    """
    if matrix.shape[0] == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores = cosine_scores(matrix, query)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    k = min(k, int(np.isfinite(scores).sum()))
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return idx.astype(np.int64), scores[idx].astype(np.float32)


def mmr(
    matrix: np.ndarray,
    query: np.ndarray,
    k: int,
    *,
    lambda_: float,
    candidates: int = 50,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Maximal marginal relevance: relevant to the query but not redundant with each other.

    ``lambda_`` = 1 is plain similarity; lower values favour diversity. Returns the chosen indices
    in selection order and their similarity to the query.
    """
    pool, pool_scores = top_k(matrix, query, max(k, candidates), mask)
    if pool.size == 0:
        return pool, pool_scores
    vectors = matrix[pool]
    chosen: list[int] = []
    remaining = list(range(pool.size))
    while remaining and len(chosen) < k:
        if chosen:
            with _BLAS.limit(limits=1, user_api="blas"):
                redundancy = (vectors[remaining] @ vectors[chosen].T).max(axis=1)
        else:
            redundancy = np.zeros(len(remaining), dtype=np.float32)
        gain = lambda_ * pool_scores[remaining] - (1 - lambda_) * redundancy
        best = remaining[int(np.argmax(gain))]
        chosen.append(best)
        remaining.remove(best)
    picked = np.array(chosen, dtype=np.int64)
    return pool[picked], pool_scores[picked]
