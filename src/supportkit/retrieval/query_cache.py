"""A locked, bounded (LRU) cache of query embeddings, shared by everything that embeds a request's
query: example selection, intent detection, knowledge retrieval and the guard.

One request embeds its query once; concurrent requests (threads of a server) share the cache
safely: lookups and inserts happen under one lock, vectors are read-only arrays.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from supportkit.retrieval.embedder import Embedder


class QueryEmbeddings:
    """``embed(text)`` -> the text's vector (``[dim]`` float32, read-only), cached by text.

    Args:
        embedder: computes vectors on a miss (called outside the lock, so a slow embed never
            blocks other threads' cache hits; two threads missing the same text both embed it
            and store the same vector).
        capacity: most vectors kept; the least recently used goes first.

    Raises: ValueError for a capacity below 1.
    """

    def __init__(self, embedder: Embedder, capacity: int = 256) -> None:
        if capacity < 1:
            raise ValueError(f"query cache capacity must be at least 1, got {capacity}")
        self.embedder, self.capacity = embedder, capacity
        self._lock = threading.Lock()
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def embed(self, text: str) -> np.ndarray:
        with self._lock:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
                return vector
        vector = np.array(self.embedder.embed([text])[0], dtype=np.float32)
        vector.setflags(write=False)
        with self._lock:
            self._vectors[text] = vector
            self._vectors.move_to_end(text)
            while len(self._vectors) > self.capacity:
                self._vectors.popitem(last=False)
        return vector

    def __len__(self) -> int:
        with self._lock:
            return len(self._vectors)
