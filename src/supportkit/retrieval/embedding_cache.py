"""A content-keyed embedding cache: each distinct text is embedded once per run, and once per
machine when the cache persists.

A comparison used to embed the same texts many times: the questions for the split's near-duplicate
check (once per method, as every training run prepares its data), again for the few-shot bank,
and all training answers again for every evaluated system's intent accuracy. A
:class:`CachedEmbedder` wraps any :class:`~supportkit.retrieval.embedder.Embedder` and is one
itself, so every one of those steps shares it by taking the same embedder (the process-wide
:func:`~supportkit.retrieval.embedder.default_embedder` is one):

    embedder = CachedEmbedder(MiniLMEmbedder(), path=cache_root() / "embeddings" / "texts.sqlite")
    embedder.embed(["refund?", "refund?", "invoice"])   # embeds 2 texts
    embedder.embed(["invoice"])                          # embeds none

Vectors are kept by the SHA-256 of the text (the text itself is never stored) in memory (a
bounded LRU) and, with a ``path``, in an SQLite file next to the few-shot banks' persisted vectors
(``<cache root>/embeddings``), keyed also by the embedder's name so another vector space is never
mixed in. Thread-safe: the memory map and the database are used under one lock; the wrapped
embedder runs outside it.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from supportkit.retrieval.embedder import Embedder

log = logging.getLogger(__name__)


def text_key(text: str) -> str:
    """The cache key of ``text``: its SHA-256 (hex)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class CachedEmbedder:
    """An :class:`Embedder` that embeds each distinct text once.

    Args:
        inner: computes vectors on a miss (its ``name`` and ``dim`` are this embedder's).
        path: an SQLite file that keeps vectors across processes (``None``: memory only). An
            unreadable or locked file is logged once and the cache goes on in memory.
        capacity: most vectors kept in memory (least recently used go first; the file keeps all).
        persist_min: a call that embeds fewer new texts than this keeps them in memory only, so a
            server's one-query-at-a-time embeddings never wait on a disk write.

    Raises: ValueError for a capacity below 1.
    """

    def __init__(
        self,
        inner: Embedder,
        *,
        path: str | Path | None = None,
        capacity: int = 50_000,
        persist_min: int = 2,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"embedding cache capacity must be at least 1, got {capacity}")
        self.inner, self.capacity, self.persist_min = inner, capacity, persist_min
        self.name: str = inner.name
        self.dim: int = inner.dim
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._db: sqlite3.Connection | None = None
        #: Texts the wrapped embedder was asked for (misses), over this object's life.
        self.embedded = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``[len(texts), dim]`` float32 rows, as the wrapped embedder gives them."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [text_key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for key in keys:
                vector = self._memory.get(key)
                if vector is not None:
                    self._memory.move_to_end(key)
                    found[key] = vector
            missing = [k for k in dict.fromkeys(keys) if k not in found]
            if missing:
                found.update(self._load(missing))
        todo: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in found:
                todo.setdefault(key, text)
        if todo:
            vectors = np.asarray(self.inner.embed(list(todo.values())), dtype=np.float32)
            fresh = dict(zip(todo, vectors, strict=True))
            found.update(fresh)
            with self._lock:
                self.embedded += len(fresh)
                if len(fresh) >= self.persist_min:
                    self._store(fresh)
        with self._lock:
            for key in dict.fromkeys(keys):
                self._memory[key] = found[key]
                self._memory.move_to_end(key)
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._memory)

    # --- the file (called under the lock) ----------------------------------------------------------
    def _connect(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS vectors (embedder TEXT NOT NULL, key TEXT NOT NULL, "
                    "vector BLOB NOT NULL, PRIMARY KEY (embedder, key))"
                )
                db.commit()
                self._db = db
            except (OSError, sqlite3.Error) as exc:
                log.warning(
                    "embedding cache %s unusable (%s): embeddings are kept in memory only", self.path, exc
                )
                self.path = None
                return None
        return self._db

    def _load(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        db = self._connect()
        if db is None:
            return {}
        out: dict[str, np.ndarray] = {}
        try:
            for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
                part = list(keys[start : start + 500])
                marks = ",".join("?" * len(part))
                rows = db.execute(
                    f"SELECT key, vector FROM vectors WHERE embedder = ? AND key IN ({marks})",
                    [self.name, *part],
                )
                for key, blob in rows:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if vector.shape == (self.dim,):
                        out[key] = vector
        except sqlite3.Error as exc:
            log.warning("embedding cache %s unreadable (%s): re-embedding", self.path, exc)
        return out

    def _store(self, vectors: dict[str, np.ndarray]) -> None:
        db = self._connect()
        if db is None:
            return
        try:
            db.executemany(
                "INSERT OR REPLACE INTO vectors (embedder, key, vector) VALUES (?, ?, ?)",
                [(self.name, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in vectors.items()],
            )
            db.commit()
        except sqlite3.Error as exc:
            log.warning("embedding cache %s not written (%s)", self.path, exc)
