"""Profiles and per-user history: what the pipeline reads and writes for a ``user_id``.

A user's history is every message stored with their ``user_id``, oldest first: the turns the
pipeline appends (without a conversation) and the messages of every conversation the user owns.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from supportkit.store.base import Message, StoreBase, prompt_turns
from supportkit.store.connection import ConflictError, NotFoundError


class ProfilesMixin(StoreBase):
    # --- profiles --------------------------------------------------------------------------------
    def get_profile(self, user_id: str) -> dict[str, Any]:
        """The user's profile fields (``{}`` when none is stored)."""
        row = self._db.read(
            lambda conn: conn.execute("SELECT data FROM profiles WHERE user_id = ?", (user_id,)).fetchone(),
            "read a profile",
        )
        return dict(json.loads(row[0])) if row else {}

    def update_profile(
        self, user_id: str, fields: Mapping[str, Any], *, replace: bool = False
    ) -> dict[str, Any]:
        """Merge ``fields`` into the profile (``None`` removes a field); returns the new profile."""

        def write(conn: sqlite3.Connection) -> dict[str, Any]:
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

        return self._db.write(write, "update a profile")

    def delete_profile(self, user_id: str) -> bool:
        """Remove the user's profile; False when there was none."""
        return self._db.write(
            lambda conn: conn.execute("DELETE FROM profiles WHERE user_id = ?", (user_id,)).rowcount > 0,
            "delete a profile",
        )

    # --- history ---------------------------------------------------------------------------------
    def append_turns(
        self,
        user_id: str,
        turns: list[tuple[str, str, Mapping[str, Any] | None]],
        *,
        conversation_id: str | None = None,
    ) -> None:
        """Append (role, content, meta) turns atomically: a failed request adds nothing.

        With ``conversation_id`` the turns also join that conversation (which must exist and be
        the user's or nobody's). Raises ``InvalidRecordError`` (bad role, oversize with
        ``oversize='error'``), ``NotFoundError``, ``ConflictError`` or ``StoreError``.
        """
        prepared = self._prepare(
            [Message(role, content, metadata=meta or {}) for role, content, meta in turns]
        )

        def write(conn: sqlite3.Connection) -> None:
            if conversation_id is not None:
                row = conn.execute(
                    "SELECT user_id FROM conversations WHERE id = ?", (conversation_id,)
                ).fetchone()
                if row is None:
                    raise NotFoundError(f"no conversation {conversation_id!r}; start_conversation() first")
                if row[0] not in (None, user_id):
                    raise ConflictError(f"conversation {conversation_id!r} belongs to another user")
                conn.execute(
                    "UPDATE conversations SET updated_at = ? WHERE id = ?", (time.time(), conversation_id)
                )
            self._insert(conn, user_id, conversation_id, prepared)

        self._db.write(write, "append turns")

    def history(self, user_id: str, limit: int | None = None) -> list[dict[str, str]]:
        """The user's messages as prompt turns, oldest first (the last ``limit`` when given).

        'agent' messages read as 'assistant'; 'system' messages are left out (never prompt input).
        """

        def read(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            if limit is None:
                return conn.execute(
                    "SELECT role, content FROM messages WHERE user_id = ? AND role != 'system' ORDER BY id",
                    (user_id,),
                ).fetchall()
            return conn.execute(
                "SELECT role, content FROM (SELECT id, role, content FROM messages "
                "WHERE user_id = ? AND role != 'system' ORDER BY id DESC LIMIT ?) ORDER BY id",
                (user_id, limit),
            ).fetchall()

        return prompt_turns(self._db.read(read, "read history"))

    def clear_history(self, user_id: str) -> int:
        """Delete every message of the user (their conversations stay, empty); returns the count."""
        return self._db.write(
            lambda conn: conn.execute("DELETE FROM messages WHERE user_id = ?", (user_id,)).rowcount,
            "clear history",
        )

    def erase_user(self, user_id: str) -> dict[str, int]:
        """Right to erasure: the profile, every message, conversation and feedback of the user.

        Returns how many of each were deleted (keys: profile, messages, conversations, feedback).
        """

        def write(conn: sqlite3.Connection) -> dict[str, int]:
            feedback = conn.execute(
                "SELECT COUNT(*) FROM feedback f JOIN messages m ON m.response_id = f.response_id "
                "WHERE m.user_id = ? "
                "OR m.conversation_id IN (SELECT id FROM conversations WHERE user_id = ?)",
                (user_id, user_id),
            ).fetchone()[0]
            messages = conn.execute(
                "DELETE FROM messages WHERE user_id = ? "
                "OR conversation_id IN (SELECT id FROM conversations WHERE user_id = ?)",
                (user_id, user_id),
            ).rowcount
            conversations = conn.execute("DELETE FROM conversations WHERE user_id = ?", (user_id,)).rowcount
            profile = conn.execute("DELETE FROM profiles WHERE user_id = ?", (user_id,)).rowcount
            return {
                "profile": profile,
                "messages": messages,
                "conversations": conversations,
                "feedback": int(feedback),
            }

        return self._db.write(write, "erase a user")
