"""The store's schema: forward-only migrations numbered by ``PRAGMA user_version``.

Opening a current database only *reads* the version (no write lock, so many processes can open
the store at once). When it is behind, each missing migration runs in its own ``BEGIN
IMMEDIATE`` transaction that re-checks the version first: of several processes upgrading the
same file, one applies each step and the others see it done. A database newer than this code
is refused.

Append only: never edit a migration that has shipped. A statement may not contain ``;``.
"""

from __future__ import annotations

import sqlite3

from supportkit.store.connection import Database, StoreError

MIGRATIONS: list[str] = [
    # 1: profiles and per-user conversation history
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
    # 2: conversations (server sessions), messages gain a conversation, the 'agent' role and a
    #    unique response id; feedback on responses. Messages are rebuilt (SQLite cannot alter a CHECK).
    """
    CREATE TABLE conversations (
        id           TEXT PRIMARY KEY,
        user_id      TEXT,
        status       TEXT NOT NULL DEFAULT 'assistant' CHECK (status IN ('assistant', 'agent', 'closed')),
        escalated_at REAL,
        created_at   REAL NOT NULL,
        updated_at   REAL NOT NULL
    );
    CREATE INDEX conversations_user ON conversations (user_id, updated_at);
    CREATE INDEX conversations_updated ON conversations (updated_at);
    CREATE TABLE messages_v2 (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id         TEXT,
        conversation_id TEXT REFERENCES conversations (id) ON DELETE CASCADE,
        role            TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'agent', 'system')),
        content         TEXT NOT NULL,
        response_id     TEXT UNIQUE,
        meta            TEXT,
        created_at      REAL NOT NULL
    );
    INSERT INTO messages_v2 (id, user_id, role, content, meta, created_at)
        SELECT id, user_id, role, content, meta, created_at FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_v2 RENAME TO messages;
    CREATE INDEX messages_user ON messages (user_id, id);
    CREATE INDEX messages_conversation ON messages (conversation_id, id);
    CREATE TABLE feedback (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        response_id TEXT NOT NULL REFERENCES messages (response_id) ON DELETE CASCADE,
        rating      TEXT NOT NULL CHECK (rating IN ('up', 'down')),
        correction  TEXT,
        comment     TEXT,
        created_at  REAL NOT NULL
    );
    CREATE INDEX feedback_response ON feedback (response_id);
    CREATE INDEX feedback_created ON feedback (created_at);
    """,
    # 3: who took a conversation over (the agent console), and answers by time (the dashboard).
    """
    ALTER TABLE conversations ADD COLUMN agent TEXT;
    CREATE INDEX messages_created ON messages (created_at);
    """,
]


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _check_known(db: Database, version: int) -> None:
    if version > len(MIGRATIONS):
        raise StoreError(
            f"{db.path} has schema version {version}, newer than this supportkit knows "
            f"({len(MIGRATIONS)}); upgrade supportkit"
        )


def migrate(db: Database) -> int:
    """Bring ``db`` to the latest schema (WAL journal); returns the schema version.

    Raises :class:`StoreError` for a newer schema or a database that cannot be opened or written.
    """
    version, mode = db.read(
        lambda conn: (_version(conn), str(conn.execute("PRAGMA journal_mode").fetchone()[0])), "open"
    )
    _check_known(db, version)
    if mode.lower() != "wal":
        db.read(lambda conn: conn.execute("PRAGMA journal_mode = WAL").fetchone(), "switch to WAL")
    while version < len(MIGRATIONS):

        def step(conn: sqlite3.Connection) -> int:
            current = _version(conn)  # re-check under the write lock: another process may have migrated
            _check_known(db, current)
            if current >= len(MIGRATIONS):
                return current
            for statement in MIGRATIONS[current].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {current + 1}")
            return current + 1

        version = db.write(step, "migrate")
    return version
