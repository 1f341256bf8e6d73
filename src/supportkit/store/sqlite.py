"""The store: one SQLite file with profiles, history, conversations and feedback.

    store = Store("state/support.db", redact=redact_pii, timeout_s=30)
    cid = store.start_conversation(user_id="u1")
    store.append_messages(cid, [Message("user", "Where is my order?"),
                                Message("assistant", "It ships today.", response_id="r1")])
    store.add_feedback("r1", "up")

* WAL journal, per-operation connections, writes in ``BEGIN IMMEDIATE`` retried with backoff
  while another writer holds the lock (:mod:`supportkit.store.connection`): safe across threads and
  processes; past ``timeout_s`` a :class:`StoreError` names the file. No raw ``sqlite3`` error escapes.
* Schema versioned with ``PRAGMA user_version`` (:mod:`supportkit.store.migrations`); opening a
  current database takes no write lock.
* Every message content (and feedback correction/comment, and string metadata values) goes through
  ``redact`` before it is written, then is capped at ``max_message_chars``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from supportkit.store.connection import Database, StoreError
from supportkit.store.conversations import ConversationsMixin
from supportkit.store.feedback import FeedbackMixin
from supportkit.store.migrations import MIGRATIONS, migrate
from supportkit.store.profiles import ProfilesMixin

if TYPE_CHECKING:
    from supportkit.config import PromptConfig

__all__ = ["MIGRATIONS", "Store", "StoreError"]

#: Default cap on one stored message, in characters (a long answer is ~2,000).
DEFAULT_MAX_MESSAGE_CHARS = 20_000


class Store(ProfilesMixin, ConversationsMixin, FeedbackMixin):
    """Profiles, per-user history, conversations and feedback in one SQLite file.

    ``redact``: applied to every message content before it is written (e.g.
    ``supportkit.privacy.pii``'s redactor). ``timeout_s``: how long one operation may wait for
    another writer, in seconds. ``max_message_chars``: longest stored content (``None``: no cap);
    longer text is cut with a marker saying how long it was (``oversize='truncate'``) or refused
    with ``InvalidRecordError`` (``oversize='error'``). Raises :class:`StoreError` when the file
    cannot be opened or migrated, or has a newer schema.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        redact: Callable[[str], str] | None = None,
        timeout_s: float = 30.0,
        max_message_chars: int | None = DEFAULT_MAX_MESSAGE_CHARS,
        oversize: Literal["truncate", "error"] = "truncate",
    ) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of the store {self.path}: {exc}") from exc
        super().__init__(
            Database(self.path, timeout_s=timeout_s),
            redact=redact,
            max_message_chars=max_message_chars,
            oversize=oversize,
        )
        migrate(self._db)

    @classmethod
    def from_settings(cls, prompt: PromptConfig, *, redact: Callable[[str], str] | None = None) -> Store:
        """The store ``prompt.store_path`` names, with ``prompt.store_timeout_s`` and
        ``prompt.store_max_message_chars``. Raises :class:`StoreError` (no path set, unusable file)."""
        if not prompt.store_path:
            raise StoreError("no store configured: set prompt.store_path to a SQLite file")
        return cls(
            prompt.store_path,
            redact=redact,
            timeout_s=prompt.store_timeout_s,
            max_message_chars=prompt.store_max_message_chars,
        )

    @property
    def timeout_s(self) -> float:
        return self._db.timeout_s

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A raw connection for inspection (no retry, raw sqlite3 errors): prefer the methods."""
        with self._db.connect() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A raw write transaction: all of it lands, or none of it (sqlite3 errors as StoreError)."""
        with self._db.transaction() as conn:
            yield conn

    @property
    def schema_version(self) -> int:
        return int(self._db.read(lambda conn: conn.execute("PRAGMA user_version").fetchone()[0]))

    def check_writable(self) -> None:
        """Take and release the write lock (for a readiness probe); raises :class:`StoreError`."""
        self._db.write(lambda conn: None, "check the store is writable")
