"""A small SQLite store: profiles and per-user conversation history.

* WAL journal, ``busy_timeout``: many readers and one writer at a time, across threads and processes.
* Schema versioned with ``PRAGMA user_version`` and an append-only list of migrations, each run in
  its own transaction, so a database is upgraded in place and never half-migrated.
* One short-lived connection per operation: safe to share a ``Store`` between threads.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from supportkit.errors import SupportKitError

#: Append only: never edit a migration that has shipped.
MIGRATIONS: list[str] = [
    # 1: profiles and conversation history
    """
    CREATE TABLE profiles (
        user_id    TEXT PRIMARY KEY,
        data       TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE messages (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id    TEXT NOT NULL,
        role       TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
        content    TEXT NOT NULL,
        meta       TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX messages_user ON messages (user_id, id);
    """,
]


class StoreError(SupportKitError):
    """The database is unusable (newer schema than this version knows, corrupt, ...)."""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: all of it lands, or none of it."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        with self.connect() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
        with self.transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this supportkit knows "
                    f"({len(MIGRATIONS)}); upgrade supportkit"
                )
            for number in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    # --- profiles --------------------------------------------------------------------------------
    def get_profile(self, user_id: str) -> dict[str, Any]:
        with self.connect() as conn:
            row = conn.execute("SELECT data FROM profiles WHERE user_id = ?", (user_id,)).fetchone()
        return dict(json.loads(row[0])) if row else {}

    def update_profile(
        self, user_id: str, fields: Mapping[str, Any], *, replace: bool = False
    ) -> dict[str, Any]:
        """Merge ``fields`` into the profile (``None`` removes a field); returns the new profile."""
        with self.transaction() as conn:
            row = conn.execute("SELECT data FROM profiles WHERE user_id = ?", (user_id,)).fetchone()
            profile = {} if replace or row is None else dict(json.loads(row[0]))
            for key, value in fields.items():
                if value is None:
                    profile.pop(key, None)
                else:
                    profile[key] = value
            conn.execute(
                "INSERT INTO profiles (user_id, data, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                (user_id, json.dumps(profile, ensure_ascii=False, default=str), time.time()),
            )
        return profile

    # --- history ---------------------------------------------------------------------------------
    def append_turns(self, user_id: str, turns: list[tuple[str, str, Mapping[str, Any] | None]]) -> None:
        """Append (role, content, meta) turns atomically: a failed request adds nothing."""
        now = time.time()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO messages (user_id, role, content, meta, created_at) VALUES (?, ?, ?, ?, ?)",
                [
                    (user_id, role, content, json.dumps(meta, default=str) if meta else None, now)
                    for role, content, meta in turns
                ],
            )

    def history(self, user_id: str, limit: int | None = None) -> list[dict[str, str]]:
        """The user's messages, oldest first (the last ``limit`` when given)."""
        with self.connect() as conn:
            if limit is None:
                rows = conn.execute(
                    "SELECT role, content FROM messages WHERE user_id = ? ORDER BY id", (user_id,)
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT role, content FROM (SELECT id, role, content FROM messages "
                    "WHERE user_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id",
                    (user_id, limit),
                ).fetchall()
        return [{"role": r, "content": c} for r, c in rows]

    def clear_history(self, user_id: str) -> int:
        with self.transaction() as conn:
            return conn.execute("DELETE FROM messages WHERE user_id = ?", (user_id,)).rowcount
