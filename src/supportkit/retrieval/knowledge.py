"""A searchable knowledge base: articles -> passages -> embeddings index (+ optional BM25).

    kb = KnowledgeBase("data/knowledge_base")
    for hit in kb.search("how long do I have to return an item?", k=3):
        print(hit.passage.title, hit.score)

Embeddings are persisted per article under ``index_dir`` (``.npy``, never pickled) and keyed by
the article's content, the chunking and the embedder, so a restart embeds nothing and an edited
article is the only one embedded again. Search is exact cosine in numpy (see
:mod:`supportkit.retrieval.index`); another backend (e.g. FAISS) implements :class:`VectorIndex`
and is passed as ``index_factory`` (it serves dense search; hybrid fusion scores every passage).
With ``hybrid`` on, BM25 (``rank-bm25``) scores are fused with the cosine: see ``BENCHMARKS.md``
for the hit rates that decided the default. A query's cost is bounded whatever its length
(:mod:`supportkit.retrieval.limits`).

Each knowledge base (source folder + embedder) records the files it uses in a manifest in
``index_dir`` (``.manifest-<id>.json``, written atomically). A refresh deletes only files its own
previous manifest listed that no knowledge base's manifest lists now: several knowledge bases can
share a folder, and files it did not write (or from before manifests) are never touched.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from supportkit.retrieval.embedder import Embedder, default_embedder
from supportkit.retrieval.index import cosine_scores, top_k
from supportkit.retrieval.lexical import BM25Scorer
from supportkit.retrieval.limits import MAX_QUERY_TERMS, embedding_query
from supportkit.retrieval.passages import Article, Passage, load_articles, split_passages
from supportkit.utils.atomic import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from supportkit.config import KnowledgeConfig

log = logging.getLogger(__name__)

_MANIFEST_PREFIX = ".manifest-"


@dataclass(frozen=True)
class Hit:
    passage: Passage
    #: The ranking score (fused when hybrid; else the cosine).
    score: float
    #: Cosine similarity of the passage to the query: what relevance thresholds compare against.
    similarity: float


class VectorIndex(Protocol):
    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


class NumpyIndex:
    """Exact cosine search over L2-normalised rows."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return top_k(self.vectors, query, k)


@dataclass
class BuildStats:
    articles: int = 0
    passages: int = 0
    embedded_articles: int = 0
    reused_articles: int = 0


class KnowledgeBase:
    """Passages of a folder/JSONL of articles with a persisted embedding index."""

    def __init__(
        self,
        source: str | Path,
        *,
        embedder: Embedder | None = None,
        index_dir: str | Path | None = None,
        chunk_chars: int = 700,
        overlap_chars: int = 120,
        hybrid: bool = False,
        bm25_weight: float = 0.2,
        max_query_terms: int | None = MAX_QUERY_TERMS,
        index_factory: Callable[[np.ndarray], VectorIndex] = NumpyIndex,
    ) -> None:
        self.source = Path(source)
        self.embedder = embedder if embedder is not None else default_embedder()
        self.chunk_chars, self.overlap_chars = chunk_chars, overlap_chars
        self.hybrid, self.bm25_weight = hybrid, bm25_weight
        self.max_query_terms = max_query_terms
        self.index_factory = index_factory
        self.index_dir = Path(index_dir) if index_dir is not None else _default_index_dir(self.source)
        self.stats = BuildStats()
        self.passages: list[Passage] = []
        self.vectors = np.zeros((0, self.embedder.dim), dtype=np.float32)
        self.refresh()

    @classmethod
    def from_settings(cls, settings: KnowledgeConfig, *, embedder: Embedder | None = None) -> KnowledgeBase:
        """The knowledge base ``settings.path`` names, with every ``knowledge.*`` setting applied."""
        if not settings.path:
            raise ValueError("no knowledge base configured: set knowledge.path")
        return cls(
            settings.path,
            embedder=embedder,
            index_dir=settings.index_dir,
            chunk_chars=settings.chunk_chars,
            overlap_chars=settings.overlap_chars,
            hybrid=settings.hybrid,
            bm25_weight=settings.bm25_weight,
            max_query_terms=settings.max_query_terms,
        )

    # --- building --------------------------------------------------------------------------------
    def refresh(self) -> BuildStats:
        """(Re)load the articles; embed only those whose content changed since the last build."""
        articles = load_articles(self.source)
        stats = BuildStats(articles=len(articles))
        passages: list[Passage] = []
        blocks: list[np.ndarray] = []
        chunked = [
            (
                split_passages(a, chunk_chars=self.chunk_chars, overlap_chars=self.overlap_chars),
                self._article_key(a),
            )
            for a in articles
        ]
        # Claim the files first, so that a knowledge base refreshing meanwhile never deletes them.
        self._claim({f"{key}.npy" for _, key in chunked})
        for chunks, key in chunked:
            vectors = self._load_vectors(key, len(chunks))
            if vectors is None:
                vectors = self.embedder.embed([p.embedding_text() for p in chunks])
                self._save_vectors(key, vectors)
                stats.embedded_articles += 1
            else:
                stats.reused_articles += 1
            passages.extend(chunks)
            blocks.append(vectors)
        stats.passages = len(passages)
        self.passages = passages
        self.vectors = np.vstack(blocks).astype(np.float32) if blocks else self.vectors[:0]
        self._index: VectorIndex = self.index_factory(self.vectors)
        self._bm25 = (
            BM25Scorer([p.embedding_text() for p in passages], max_query_terms=self.max_query_terms)
            if self.hybrid
            else None
        )
        self.stats = stats
        log.info(
            "knowledge base %s: %d articles, %d passages (%d embedded, %d reused)",
            self.source,
            stats.articles,
            stats.passages,
            stats.embedded_articles,
            stats.reused_articles,
        )
        return stats

    def _article_key(self, article: Article) -> str:
        h = hashlib.sha256()
        for part in (
            self.embedder.name,
            str(self.chunk_chars),
            str(self.overlap_chars),
            article.id,
            article.title,
        ):
            h.update(part.encode())
            h.update(b"\0")
        h.update(article.text.encode())
        return h.hexdigest()[:24]

    def _load_vectors(self, key: str, count: int) -> np.ndarray | None:
        path = self.index_dir / f"{key}.npy"
        try:
            vectors = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if vectors.shape != (count, self.embedder.dim):
            return None
        return np.asarray(vectors, dtype=np.float32)

    def _save_vectors(self, key: str, vectors: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
        atomic_write_bytes(self.index_dir / f"{key}.npy", buffer.getvalue())

    # --- which files are whose -------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        """This knowledge base's manifest: one per (source folder, embedder) in ``index_dir``."""
        ident = hashlib.sha256(f"{self.source.resolve()}\0{self.embedder.name}".encode()).hexdigest()[:16]
        return self.index_dir / f"{_MANIFEST_PREFIX}{ident}.json"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise manifest updates of every knowledge base (and process) sharing ``index_dir``."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self.index_dir / ".manifest.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _claim(self, files: set[str]) -> None:
        """Record ``files`` as this knowledge base's, then delete what only it used before.

        In a folder this process cannot write (a read-only cache), nothing is recorded or deleted.
        """
        previous = set(_read_manifest(self.manifest_path))
        if previous == files:
            return
        try:
            self._update_manifest(files)
        except OSError as exc:
            log.warning(
                "knowledge index %s: manifest not updated, nothing cleaned up: %s", self.index_dir, exc
            )

    def _update_manifest(self, files: set[str]) -> None:
        with self._locked():
            previous = set(_read_manifest(self.manifest_path))  # again, under the lock
            manifest = {"source": str(self.source.resolve()), "embedder": self.embedder.name}
            atomic_write_text(self.manifest_path, json.dumps({**manifest, "files": sorted(files)}, indent=1))
            others: set[str] = set()
            for path in self.index_dir.glob(f"{_MANIFEST_PREFIX}*.json"):
                if path != self.manifest_path:
                    others.update(_read_manifest(path))
            for name in sorted(previous - files - others):
                (self.index_dir / name).unlink(missing_ok=True)

    # --- searching -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.passages)

    def search(
        self, query: str, k: int = 3, *, min_similarity: float = 0.0, query_vector: np.ndarray | None = None
    ) -> list[Hit]:
        """The ``k`` best passages for ``query``, best first, each with cosine ``similarity`` at
        least ``min_similarity``."""
        if k <= 0 or not self.passages:
            return []
        q = query_vector if query_vector is not None else self.embedder.embed([embedding_query(query)])[0]
        if self._bm25 is None:
            idx, sims = self._index.search(q, k)
            return [
                Hit(self.passages[i], float(s), float(s))
                for i, s in zip(idx, sims, strict=True)
                if s >= min_similarity
            ]
        # Hybrid: fuse over every passage (exact); BM25 counts a bounded number of query terms.
        sims = cosine_scores(self.vectors, q)
        fused = (1 - self.bm25_weight) * sims + self.bm25_weight * self._bm25.normalised_scores(query)
        candidates = np.flatnonzero(sims >= min_similarity)
        best = candidates[np.argsort(-fused[candidates], kind="stable")[:k]]
        return [Hit(self.passages[i], float(fused[i]), float(sims[i])) for i in best]


def _read_manifest(path: Path) -> list[str]:
    """The file names a manifest lists (none when it is missing or unreadable)."""
    try:
        files = json.loads(path.read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [f for f in files if isinstance(f, str) and f.endswith(".npy") and "/" not in f]


def _default_index_dir(source: Path) -> Path:
    from supportkit.models.gguf_cache import cache_root

    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:12]
    return cache_root() / "knowledge" / f"{source.name or 'kb'}-{digest}"
