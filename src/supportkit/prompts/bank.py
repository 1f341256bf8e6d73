"""The few-shot example bank: examples plus their embeddings, safe under concurrent readers.

Readers take an immutable :class:`BankSnapshot` (a tuple and a read-only array); writers build a
new snapshot under a lock and swap the reference, so a reader never sees a half-added example.
Embeddings are computed once: a bank with a ``path`` persists examples (JSONL) and vectors
(``.npy``, never pickled) beside each other and reuses them after a restart; adding an example
embeds only that one. Examples read from a dataset file get their vectors cached by file content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from supportkit.data.readers import QAExample, read_qa_examples
from supportkit.retrieval.embedder import Embedder, default_embedder
from supportkit.utils.textfiles import jsonl_line

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BankSnapshot:
    examples: tuple[QAExample, ...]
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.examples)

    def intent_mask(self, intent: str | None) -> np.ndarray | None:
        if intent is None:
            return None
        return np.array([e.intent == intent for e in self.examples], dtype=bool)


def _digest(questions: Iterable[str]) -> str:
    h = hashlib.sha256()
    for q in questions:
        h.update(q.encode())
        h.update(b"\0")
    return h.hexdigest()


def _atomic_save(path: Path, array: np.ndarray, meta: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        np.save(fh, array, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    meta_path = path.with_suffix(".json")
    tmp_meta = meta_path.with_name(f".{meta_path.name}.{os.getpid()}.tmp")
    tmp_meta.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp_meta, meta_path)


class ExampleBank:
    """Question/answer examples with embeddings for similarity selection."""

    def __init__(self, path: str | Path | None = None, *, embedder: Embedder | None = None) -> None:
        self._embedder = embedder
        self._lock = threading.Lock()
        self.path = Path(path) if path is not None else None
        self._snapshot = BankSnapshot((), np.zeros((0, 0), dtype=np.float32))
        self._recent: dict[tuple[str, str], np.ndarray] = {}
        if self.path is not None and self.path.is_file():
            examples, _ = read_qa_examples(self.path)
            self._set(examples, self._vectors_for(examples, self._vectors_path(self.path)))

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    def snapshot(self) -> BankSnapshot:
        return self._snapshot  # a single reference read: atomic under the GIL

    def __len__(self) -> int:
        return len(self._snapshot)

    def embed_query(self, text: str) -> np.ndarray:
        """The query's vector; the last few are kept, as one request embeds its query for
        retrieval, intent detection and example selection."""
        key = (self.embedder.name, text)
        vector = self._recent.get(key)
        if vector is None:
            vector = self.embedder.embed([text])[0]
            vector.setflags(write=False)
            self._recent[key] = vector
            while len(self._recent) > 64:
                self._recent.pop(next(iter(self._recent)), None)
        return vector

    # --- writing ---------------------------------------------------------------------------------
    def add(self, question: str, answer: str, intent: str | None = None) -> None:
        """Add one example (embeds just this one; appends to the bank file when there is one)."""
        if not question.strip() or not answer.strip():
            raise ValueError("a few-shot example needs a non-empty question and answer")
        self.extend([QAExample(question.strip(), answer.strip(), intent)])

    def extend(self, examples: Sequence[QAExample]) -> None:
        if not examples:
            return
        new_vectors = self.embedder.embed([e.question for e in examples])
        with self._lock:
            current = self._snapshot
            vectors = new_vectors if len(current) == 0 else np.vstack([current.vectors, new_vectors])
            self._set(list(current.examples) + list(examples), vectors)
            if self.path is not None:
                self._persist(examples)

    def load_file(self, path: str | Path, *, on_error: str = "raise") -> int:
        """Add every example of a dataset file; vectors are cached by the file's content."""
        examples, _ = read_qa_examples(path, on_error=on_error)
        from supportkit.utils.cache import cache_root

        key = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
        cache = cache_root() / "embeddings" / f"{Path(path).stem}-{key}-{self.embedder.name}.npy"
        vectors = self._vectors_for(examples, cache)
        with self._lock:
            current = self._snapshot
            merged = vectors if len(current) == 0 else np.vstack([current.vectors, vectors])
            self._set(list(current.examples) + examples, merged)
        return len(examples)

    # --- internals -------------------------------------------------------------------------------
    def _set(self, examples: Sequence[QAExample], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        vectors.setflags(write=False)
        self._snapshot = BankSnapshot(tuple(examples), vectors)

    @staticmethod
    def _vectors_path(path: Path) -> Path:
        return path.with_name(path.stem + ".embeddings.npy")

    def _vectors_for(self, examples: Sequence[QAExample], cache: Path) -> np.ndarray:
        """Vectors for ``examples``, reusing a cache whose questions match (as a prefix)."""
        questions = [e.question for e in examples]
        vectors = np.zeros((0, self.embedder.dim), dtype=np.float32)
        try:
            meta = json.loads(cache.with_suffix(".json").read_text(encoding="utf-8"))
            if meta.get("embedder") == self.embedder.name:
                count = int(meta["count"])
                if count <= len(questions) and meta["digest"] == _digest(questions[:count]):
                    vectors = np.load(cache, allow_pickle=False)[:count]
        except (OSError, ValueError, KeyError):
            pass
        missing = questions[len(vectors) :]
        if missing:
            log.info("embedding %d example(s) (%d reused)", len(missing), len(vectors))
            vectors = (
                np.vstack([vectors, self.embedder.embed(missing)])
                if len(vectors)
                else self.embedder.embed(missing)
            )
            cache.parent.mkdir(parents=True, exist_ok=True)
            _atomic_save(
                cache,
                vectors,
                {"embedder": self.embedder.name, "count": len(questions), "digest": _digest(questions)},
            )
        return vectors

    def _persist(self, added: Sequence[QAExample]) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            for e in added:
                row = {"question": e.question, "answer": e.answer}
                if e.intent:
                    row["intent"] = e.intent
                fh.write(jsonl_line(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        snap = self._snapshot
        _atomic_save(
            self._vectors_path(self.path),
            snap.vectors,
            {
                "embedder": self.embedder.name,
                "count": len(snap),
                "digest": _digest(e.question for e in snap.examples),
            },
        )
