"""SQLite connections with bounded retry: the one place that talks to ``sqlite3`` directly.

* WAL journal: readers never wait for the writer; one writer at a time, across threads and processes.
* A write runs in ``BEGIN IMMEDIATE`` (it takes the write lock up front, so two writers never
  deadlock upgrading read locks) and is retried as a whole, with jittered exponential backoff,
  while SQLite answers "database is locked/busy", until ``timeout_s`` has passed.
* Every ``sqlite3`` error leaves this module as a :class:`StoreError` naming the database file:
  callers never see a raw ``sqlite3.OperationalError``.
* One short-lived connection per operation: a ``Database`` is safe to share between threads, and a
  forked process opens its own connections.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from supportkit.errors import SupportKitError

T = TypeVar("T")

#: First and largest pause between two attempts (seconds); each pause doubles, with jitter.
_FIRST_PAUSE_S = 0.002
_MAX_PAUSE_S = 0.1


class StoreError(SupportKitError):
    """The store could not do what was asked (locked past its deadline, corrupt, newer schema, ...)."""


class NotFoundError(StoreError, LookupError):
    """A conversation or response id that the store does not hold (HTTP 404)."""


class ConflictError(StoreError):
    """The write contradicts what is stored (id owned by another user, duplicate response id; HTTP 409)."""


class InvalidRecordError(StoreError, ValueError):
    """A value the schema does not allow (unknown role, rating or status, oversize message; HTTP 400)."""


def is_busy(exc: sqlite3.Error) -> bool:
    """True for the transient "another connection holds the lock" errors worth retrying."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return True
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


class Database:
    """A SQLite file with retrying reads and writes (see the module docstring).

    ``timeout_s`` bounds how long one operation may wait for the lock, in seconds, before it
    raises :class:`StoreError`.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.path = Path(path)
        self.timeout_s = float(timeout_s)

    @contextmanager
    def connect(self, busy_timeout_s: float | None = None) -> Iterator[sqlite3.Connection]:
        """A raw autocommit connection (foreign keys on); closed on exit. No retry: prefer read/write."""
        wait = self.timeout_s if busy_timeout_s is None else max(0.0, busy_timeout_s)
        try:
            conn = sqlite3.connect(self.path, timeout=wait, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self.wrap(exc, "open") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        finally:
            conn.close()

    def wrap(self, exc: BaseException, action: str) -> StoreError:
        """The StoreError to raise for a sqlite3 error ``exc`` met while doing ``action``."""
        if isinstance(exc, StoreError):
            return exc
        if isinstance(exc, sqlite3.Error) and is_busy(exc):
            return StoreError(
                f"{self.path}: the database stayed locked for {self.timeout_s:g} s ({action}); another "
                "process holds a long write transaction. Retry later, or raise the store timeout "
                "(prompt.store_timeout_s)"
            )
        if isinstance(exc, sqlite3.IntegrityError):
            return ConflictError(f"{self.path}: {action} rejected by the schema: {exc}")
        return StoreError(
            f"{self.path}: {action} failed: {exc} (is it a supportkit store on a writable disk?)"
        )

    def _retry(self, action: str, attempt: Callable[[float], T]) -> T:
        deadline = time.monotonic() + self.timeout_s
        pause = _FIRST_PAUSE_S
        while True:
            remaining = deadline - time.monotonic()
            try:
                # SQLite's own busy handler waits a short slice; this loop does the rest with backoff,
                # which also covers the busy errors SQLite returns without calling its handler.
                return attempt(min(remaining, 1.0))
            except sqlite3.Error as exc:
                if not is_busy(exc) or time.monotonic() + pause > deadline:
                    raise self.wrap(exc, action) from exc
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, _MAX_PAUSE_S)

    def read(self, fn: Callable[[sqlite3.Connection], T], action: str = "read") -> T:
        """Run ``fn(conn)`` on a fresh connection, retried while the database is busy."""

        def attempt(wait: float) -> T:
            with self.connect(wait) as conn:
                return fn(conn)

        return self._retry(action, attempt)

    def write(self, fn: Callable[[sqlite3.Connection], T], action: str = "write") -> T:
        """Run ``fn(conn)`` in one ``BEGIN IMMEDIATE`` transaction: all of it lands, or none of it.

        The whole transaction is retried while the database is busy, so ``fn`` must have no
        effects outside the connection. Raises :class:`StoreError` (or a subclass ``fn`` raised).
        """

        def attempt(wait: float) -> T:
            with self.connect(wait) as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                return result

        return self._retry(action, attempt)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction as a context manager (only taking the lock is retried)."""

        def begin(wait: float) -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, timeout=wait, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                conn.close()
                raise
            return conn

        conn = self._retry("begin a write", begin)
        try:
            try:
                yield conn
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self.wrap(exc, "write") from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise self.wrap(exc, "commit") from exc
        finally:
            conn.close()
