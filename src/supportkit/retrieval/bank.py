"""The example bank (few-shot examples, intent-labelled examples): examples plus their
embeddings, safe under concurrent readers.

Readers take an immutable :class:`BankSnapshot`; writers append under a lock and then publish a new
snapshot by swapping one reference, so a reader never sees a half-added example. Adds are
amortised O(added): examples go to an append-only list and vectors to a buffer that doubles when
full; a snapshot is a read-only view of the first ``n`` rows of both, which later appends never
touch (copy-on-write only when the buffer grows). Embeddings are computed once: a bank with a
``path`` appends examples to its JSONL file and saves vectors (``.npy``, never pickled) whenever
an eighth of them is unsaved (and on :meth:`ExampleBank.flush`); after a restart the saved
vectors are reused and only the rest re-embedded. Examples read from a dataset file get their
vectors cached by file content. Query vectors come from a shared :class:`QueryEmbeddings`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

from supportkit.errors import DataError
from supportkit.retrieval.embedder import Embedder, default_embedder
from supportkit.retrieval.example import QAExample
from supportkit.retrieval.query_cache import QueryEmbeddings
from supportkit.utils.cache import cache_root
from supportkit.utils.textfiles import jsonl_line, physical_lines, read_text

log = logging.getLogger(__name__)


class _Prefix(Sequence[QAExample]):
    """The first ``n`` items of an append-only list (what one snapshot sees)."""

    __slots__ = ("_items", "_n")

    def __init__(self, items: list[QAExample], n: int) -> None:
        self._items, self._n = items, n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> QAExample: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[QAExample]: ...
    def __getitem__(self, index: int | slice) -> QAExample | Sequence[QAExample]:
        if isinstance(index, slice):
            return self._items[: self._n][index]
        if not -self._n <= index < self._n:
            raise IndexError(index)
        return self._items[index % self._n]

    def __iter__(self) -> Iterator[QAExample]:
        return (self._items[i] for i in range(self._n))


@dataclass(frozen=True)
class BankSnapshot:
    #: The examples, oldest first (a read-only sequence).
    examples: Sequence[QAExample]
    #: Their vectors, ``[len(examples), dim]`` float32, read-only.
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
    """Question/answer examples with embeddings for similarity selection.

    Args:
        path: a JSONL file to persist to (read on construction when it exists).
        embedder: the sentence embedder (default: MiniLM, loaded on first use).
        queries: a shared query-embedding cache (default: one of this bank's own).

    Thread safety: any number of readers (:meth:`snapshot`, :meth:`embed_query`) run alongside
    writers (:meth:`add`, :meth:`extend`, :meth:`load_file`), which are serialised by a lock.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        embedder: Embedder | None = None,
        queries: QueryEmbeddings | None = None,
    ) -> None:
        self._embedder = embedder
        self._queries = queries
        self._lock = threading.Lock()
        self.path = Path(path) if path is not None else None
        self._items: list[QAExample] = []
        self._buffer = np.zeros((0, 0), dtype=np.float32)
        self._saved = 0
        self._snapshot = BankSnapshot((), np.zeros((0, 0), dtype=np.float32))
        if self.path is not None and self.path.is_file():
            examples = _read_bank_file(self.path)
            self._append(examples, self._vectors_for(examples, self._vectors_path(self.path)))
            self._saved = len(examples)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    @property
    def queries(self) -> QueryEmbeddings:
        """The query-embedding cache (share it: ``ExampleBank(queries=other.queries)``)."""
        if self._queries is None:
            self._queries = QueryEmbeddings(self.embedder)
        return self._queries

    def snapshot(self) -> BankSnapshot:
        return self._snapshot  # a single reference read: atomic under the GIL

    def __len__(self) -> int:
        return len(self._snapshot)

    def embed_query(self, text: str) -> np.ndarray:
        """The query's vector (``[dim]``, read-only), from the shared cache."""
        return self.queries.embed(text)

    # --- writing ---------------------------------------------------------------------------------
    def add(self, question: str, answer: str, intent: str | None = None) -> None:
        """Add one example (embeds just this one; appends to the bank file when there is one).

        Raises: ValueError for an empty question or answer."""
        if not question.strip() or not answer.strip():
            raise ValueError("a few-shot example needs a non-empty question and answer")
        self.extend([QAExample(question.strip(), answer.strip(), intent)])

    def extend(self, examples: Sequence[QAExample]) -> None:
        """Add many examples with one embedding call and one file append (amortised O(added))."""
        if not examples:
            return
        new_vectors = self.embedder.embed([e.question for e in examples])
        with self._lock:
            self._append(examples, new_vectors)
            if self.path is not None:
                self._persist(examples)

    def extend_with_vectors(self, examples: Sequence[QAExample], vectors: np.ndarray) -> None:
        """Add ``examples`` with vectors computed elsewhere (shape ``(len(examples), dim)``, float32,
        unit length as the embedder's): nothing is embedded. Raises ValueError on a shape mismatch."""
        with self._lock:
            self._append(examples, vectors)
            if self.path is not None:
                self._persist(examples)

    def extend_cached(self, examples: Sequence[QAExample], *, source: str | Path) -> int:
        """Add ``examples`` read from the dataset file ``source``, their vectors cached by the file's
        content (reading the file is the caller's: :func:`supportkit.data.examples.load_examples`).
        Returns how many were added."""
        key = hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16]
        cache = cache_root() / "embeddings" / f"{Path(source).stem}-{key}-{self.embedder.name}.npy"
        vectors = self._vectors_for(examples, cache)
        with self._lock:
            self._append(examples, vectors)
        return len(examples)

    def flush(self) -> None:
        """Save every vector of a bank with a ``path`` now (adds save them in amortised batches)."""
        with self._lock:
            if self.path is not None and self._saved < len(self._snapshot):
                self._save_vectors()

    # --- internals -------------------------------------------------------------------------------
    def _append(self, examples: Sequence[QAExample], vectors: np.ndarray) -> None:
        """Append under the writer lock, then publish the new snapshot (one reference swap)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        n, k = len(self._items), len(examples)
        if len(examples) != vectors.shape[0]:
            raise ValueError(f"{len(examples)} examples but {vectors.shape[0]} vectors")
        if n and self._buffer.shape[1] != vectors.shape[1]:
            raise ValueError(
                f"vectors of width {vectors.shape[1]} added to a bank of width {self._buffer.shape[1]}"
            )
        if n + k > self._buffer.shape[0]:
            # grow by doubling: a fresh buffer, so snapshots of the old one stay as they were
            grown = np.zeros((max(16, 2 * (n + k)), vectors.shape[1]), dtype=np.float32)
            if n:
                grown[:n] = self._buffer[:n]
            self._buffer = grown
        self._buffer[n : n + k] = vectors  # rows no published snapshot can see
        self._items.extend(examples)
        view = self._buffer[: n + k]
        view.setflags(write=False)
        self._snapshot = BankSnapshot(_Prefix(self._items, n + k), view)

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
                # U+2028/U+2029 and other line separators stay escaped, so the file always splits
                # into the rows written (and any reader can reopen it)
                fh.write(jsonl_line(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if len(self._snapshot) - self._saved >= max(1, len(self._snapshot) // 8):
            self._save_vectors()

    def _save_vectors(self) -> None:
        assert self.path is not None
        snap = self._snapshot
        _atomic_save(
            self._vectors_path(self.path),
            np.asarray(snap.vectors),
            {
                "embedder": self.embedder.name,
                "count": len(snap),
                "digest": _digest(e.question for e in snap.examples),
            },
        )
        self._saved = len(snap)


def _read_bank_file(path: Path) -> list[QAExample]:
    """The examples of a bank's own JSONL file (what :meth:`ExampleBank._persist` writes: one
    ``{"question", "answer", "intent"?}`` object per line).

    Raises:
        DataError: an unreadable line, named ``file:line``.
    """
    out: list[QAExample] = []
    for number, line in physical_lines(read_text(path)):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(QAExample(str(row["question"]), str(row["answer"]), row.get("intent")))
        except (ValueError, KeyError, TypeError) as exc:
            message = f"{path}:{number}: not a bank example ({exc}); was the file edited by hand?"
            raise DataError(message) from None
    return out
