"""Conversations: the server's sessions, with their messages, status and escalation.

A conversation optionally belongs to a user; its messages carry that ``user_id`` too, so they are
part of the user's history (:meth:`ProfilesMixin.history`). ``status``: 'assistant' (the model
answers), 'agent' (a human took over) or 'closed'. A message whose metadata has a truthy
``escalation`` marks the conversation escalated; ``list_conversations(escalated_first=True)``
puts open escalated and taken-over conversations first.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from supportkit.store.base import Message, StoreBase, prompt_turns
from supportkit.store.connection import ConflictError, InvalidRecordError, NotFoundError

STATUSES = ("assistant", "agent", "closed")

_SUMMARY = (
    "SELECT c.id, c.user_id, c.status, c.escalated_at, c.created_at, c.updated_at, "
    "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id), c.agent, "
    "(SELECT m.meta FROM messages m WHERE m.conversation_id = c.id "
    "AND json_extract(m.meta, '$.escalation') IS NOT NULL ORDER BY m.id DESC LIMIT 1) FROM conversations c"
)
_NEEDS_ATTENTION = "(c.status = 'agent' OR (c.status = 'assistant' AND c.escalated_at IS NOT NULL))"


@dataclass(frozen=True)
class Conversation:
    """A stored conversation; ``messages`` oldest first (empty in listings). Times: unix seconds."""

    id: str
    user_id: str | None
    status: str
    escalated_at: float | None
    created_at: float
    updated_at: float
    message_count: int
    messages: list[Message] = field(default_factory=list)
    #: Who took the conversation over (the principal's name), while ``status`` is 'agent'.
    agent: str | None = None
    #: The metadata of the latest escalated message (``escalation``: the reason, ``handoff``: the
    #: hand-off summary for the agent, ...); ``None`` when it never escalated.
    escalation: dict[str, Any] | None = None

    @property
    def escalated(self) -> bool:
        return self.escalated_at is not None


def _summary(row: tuple) -> Conversation:
    escalation = json.loads(row[8]) if row[8] else None
    return Conversation(
        row[0], row[1], row[2], row[3], row[4], row[5], int(row[6]), agent=row[7], escalation=escalation
    )


def _is_escalation(message: Message) -> bool:
    return bool(message.metadata and message.metadata.get("escalation"))


def _start(conn: sqlite3.Connection, cid: str, user_id: str | None) -> None:
    """Create conversation ``cid`` for ``user_id`` inside the caller's transaction (see
    :meth:`ConversationsMixin.start_conversation`). Raises: ConflictError (another user's)."""
    row = conn.execute("SELECT user_id FROM conversations WHERE id = ?", (cid,)).fetchone()
    if row is None:
        now = time.time()
        conn.execute(
            "INSERT INTO conversations (id, user_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (cid, user_id, now, now),
        )
    elif row[0] is None and user_id is not None:
        conn.execute("UPDATE conversations SET user_id = ? WHERE id = ?", (user_id, cid))
        conn.execute("UPDATE messages SET user_id = ? WHERE conversation_id = ?", (user_id, cid))
    elif user_id is not None and row[0] != user_id:
        raise ConflictError(f"conversation {cid!r} belongs to another user")


class ConversationsMixin(StoreBase):
    def start_conversation(self, user_id: str | None = None, conversation_id: str | None = None) -> str:
        """Create a conversation (a new random id when none is given) and return its id.

        Idempotent for an existing id of the same user (or of nobody: the user then owns it).
        Raises ``ConflictError`` when the id belongs to another user.
        """
        cid = conversation_id if conversation_id is not None else str(uuid.uuid4())
        if not isinstance(cid, str) or not cid.strip():
            raise InvalidRecordError("conversation_id must be non-empty text")

        def write(conn: sqlite3.Connection) -> str:
            _start(conn, cid, user_id)
            return cid

        return self._db.write(write, "start a conversation")

    def append_messages(
        self,
        conversation_id: str,
        messages: Sequence[Message],
        *,
        start: bool = False,
        user_id: str | None = None,
    ) -> list[int]:
        """Append ``messages`` to the conversation atomically (all or none); returns their row ids.

        ``start``: first start the conversation as :meth:`start_conversation` (``user_id``) does, in
        the same transaction, so a failed append leaves no empty conversation behind.
        Raises ``NotFoundError`` (unknown conversation), ``ConflictError`` (a response id already
        stored, the conversation another user's), ``InvalidRecordError`` (bad role, oversize with
        ``oversize='error'``), ``StoreError``.
        """
        prepared = self._prepare(messages)  # validates first: metadata is a mapping from here on
        escalated = any(_is_escalation(m) for m in messages)

        def write(conn: sqlite3.Connection) -> list[int]:
            if start:
                _start(conn, conversation_id, user_id)
            row = conn.execute(
                "SELECT user_id FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no conversation {conversation_id!r}; start_conversation() first")
            ids = self._insert(conn, row[0], conversation_id, prepared)
            now = time.time()
            conn.execute(
                "UPDATE conversations SET updated_at = ?, escalated_at = "
                "CASE WHEN ? AND escalated_at IS NULL THEN ? ELSE escalated_at END WHERE id = ?",
                (now, escalated, now, conversation_id),
            )
            return ids

        return self._db.write(write, "append messages")

    def conversation(self, conversation_id: str, *, after: int = 0) -> Conversation | None:
        """The conversation with every message, oldest first; ``None`` when unknown.

        ``after``: only the messages whose row ``id`` is larger (what a client polling for new
        messages has not seen yet); ``message_count`` still counts them all.
        """

        def read(conn: sqlite3.Connection) -> Conversation | None:
            row = conn.execute(f"{_SUMMARY} WHERE c.id = ?", (conversation_id,)).fetchone()
            if row is None:
                return None
            rows = conn.execute(
                "SELECT id, role, content, response_id, meta, created_at FROM messages "
                "WHERE conversation_id = ? AND id > ? ORDER BY id",
                (conversation_id, after),
            ).fetchall()
            messages = [
                Message(role, content, rid, json.loads(meta) if meta else {}, created, mid)
                for mid, role, content, rid, meta, created in rows
            ]
            return replace(_summary(row), messages=messages)

        return self._db.read(read, "read a conversation")

    def conversation_history(self, conversation_id: str, limit: int | None = None) -> list[dict[str, str]]:
        """The conversation as prompt turns ({role, content}), oldest first, the last ``limit``.

        'agent' messages read as 'assistant'; 'system' messages are left out. Unknown id: ``[]``.
        """

        def read(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            return conn.execute(
                "SELECT role, content FROM (SELECT id, role, content FROM messages "
                "WHERE conversation_id = ? AND role != 'system' ORDER BY id DESC LIMIT ?) ORDER BY id",
                (conversation_id, -1 if limit is None else limit),
            ).fetchall()

        return prompt_turns(self._db.read(read, "read a conversation"))

    def list_conversations(
        self,
        limit: int = 50,
        offset: int = 0,
        *,
        escalated_first: bool = True,
        since: float | None = None,
        user_id: str | None = None,
        status: str | None = None,
    ) -> list[Conversation]:
        """Conversations without their messages, most recently updated first.

        ``escalated_first``: open escalated and taken-over ones first. ``since``: unix time, only
        those updated at or after it. ``user_id``/``status``: only those.
        """
        if status is not None and status not in STATUSES:
            raise InvalidRecordError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        order = f"CASE WHEN {_NEEDS_ATTENTION} THEN 0 ELSE 1 END, " if escalated_first else ""
        sql = (
            f"{_SUMMARY} WHERE (? IS NULL OR c.updated_at >= ?) AND (? IS NULL OR c.user_id = ?) "
            f"AND (? IS NULL OR c.status = ?) ORDER BY {order}c.updated_at DESC, c.id LIMIT ? OFFSET ?"
        )
        params = (since, since, user_id, user_id, status, status, limit, offset)
        rows = self._db.read(lambda conn: conn.execute(sql, params).fetchall(), "list conversations")
        return [_summary(row) for row in rows]

    def set_conversation_status(self, conversation_id: str, status: str, *, agent: str | None = None) -> None:
        """'agent' (taken over by ``agent``: marks it escalated), 'assistant' (handed back: escalation
        handled) or 'closed'. Raises ``NotFoundError`` or ``InvalidRecordError``."""
        if status not in STATUSES:
            raise InvalidRecordError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        escalated = {
            "agent": "COALESCE(escalated_at, :now)",
            "assistant": "NULL",
            "closed": "escalated_at",
        }[status]

        def write(conn: sqlite3.Connection) -> None:
            changed = conn.execute(
                f"UPDATE conversations SET status = :status, escalated_at = {escalated}, updated_at = :now, "
                "agent = CASE WHEN :status = 'agent' THEN :agent ELSE NULL END WHERE id = :id",
                {"status": status, "now": time.time(), "id": conversation_id, "agent": agent},
            ).rowcount
            if not changed:
                raise NotFoundError(f"no conversation {conversation_id!r}")

        self._db.write(write, "set a conversation's status")

    def agent_reply_conversations(self, since: float | None = None) -> list[str]:
        """Ids of the conversations with an 'agent' message written at or after ``since`` (unix s;
        every one when ``None``), in the order of their first such message."""
        sql = (
            "SELECT conversation_id FROM messages WHERE role = 'agent' AND conversation_id IS NOT NULL "
            "AND (? IS NULL OR created_at >= ?) GROUP BY conversation_id ORDER BY MIN(id)"
        )
        rows = self._db.read(lambda conn: conn.execute(sql, (since, since)).fetchall(), "list agent replies")
        return [str(row[0]) for row in rows]

    def delete_conversation(self, conversation_id: str) -> bool:
        """Erase the conversation, its messages and their feedback; False when unknown."""
        return self._db.write(
            lambda conn: (
                conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount > 0
            ),
            "delete a conversation",
        )

    def response_owner(self, response_id: str) -> tuple[str | None, str | None] | None:
        """(conversation_id, user_id) of the message with ``response_id``; ``None`` when unknown."""
        row = self._db.read(
            lambda conn: conn.execute(
                "SELECT conversation_id, user_id FROM messages WHERE response_id = ?", (response_id,)
            ).fetchone(),
            "look up a response",
        )
        return (row[0], row[1]) if row else None
