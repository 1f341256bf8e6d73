"""Feedback on responses: thumbs up/down, an optional corrected answer and comment.

Feedback refers to a stored message by its ``response_id``; erasing the message (its
conversation, its user) erases the feedback with it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from supportkit.store.base import StoreBase
from supportkit.store.connection import InvalidRecordError, NotFoundError

RATINGS = ("up", "down")


@dataclass(frozen=True)
class FeedbackRecord:
    """Feedback joined with what it rates: the ``answer`` (the rated message's content), the
    ``question`` it answered (the user message before it; ``None`` if none is stored) and the
    answer's ``metadata`` (adapter, strategy, prompt_version, ...). Times: unix seconds."""

    id: int
    response_id: str
    rating: str
    correction: str | None
    comment: str | None
    created_at: float
    answer: str
    question: str | None
    conversation_id: str | None
    user_id: str | None
    metadata: dict[str, Any]


# The question a message answered: the last user message before it in the same conversation (or,
# outside conversations, in the same user's history).
_QUESTION = (
    "(SELECT q.content FROM messages q WHERE q.role = 'user' AND q.id < m.id AND "
    "((m.conversation_id IS NOT NULL AND q.conversation_id = m.conversation_id) OR "
    "(m.conversation_id IS NULL AND q.conversation_id IS NULL AND q.user_id = m.user_id)) "
    "ORDER BY q.id DESC LIMIT 1)"
)


def _record(row: tuple[Any, ...]) -> FeedbackRecord:
    fid, rid, rating, correction, comment, created, answer, question, cid, uid, meta = row
    metadata = json.loads(meta) if meta else {}
    return FeedbackRecord(
        fid, rid, rating, correction, comment, created, answer, question, cid, uid, metadata
    )


class FeedbackMixin(StoreBase):
    def add_feedback(
        self, response_id: str, rating: str, correction: str | None = None, comment: str | None = None
    ) -> int:
        """Record feedback on the response; returns the feedback id.

        ``correction`` and ``comment`` are redacted and capped like message content. Raises
        ``NotFoundError`` for a response id the store does not hold, ``InvalidRecordError`` for a
        rating other than 'up'/'down'.
        """
        if rating not in RATINGS:
            raise InvalidRecordError(f"rating {rating!r} is not one of {', '.join(RATINGS)}")
        correction = None if correction is None else self._clean_text(correction, "the correction")
        comment = None if comment is None else self._clean_text(comment, "the comment")

        def write(conn: sqlite3.Connection) -> int:
            if (
                conn.execute("SELECT 1 FROM messages WHERE response_id = ?", (response_id,)).fetchone()
                is None
            ):
                raise NotFoundError(
                    f"no response with id {response_id!r}: feedback needs the response id returned "
                    "with the answer, and the answer must have been stored"
                )
            cursor = conn.execute(
                "INSERT INTO feedback (response_id, rating, correction, comment, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (response_id, rating, correction, comment, time.time()),
            )
            return int(cursor.lastrowid or 0)

        return self._db.write(write, "add feedback")

    def list_feedback(
        self,
        rating: str | None = None,
        since: float | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
        conversation_id: str | None = None,
        adapter: str | None = None,
        intent: str | None = None,
    ) -> list[FeedbackRecord]:
        """Feedback newest first, each with the answer it rates and that answer's question.

        ``rating``: only 'up' or 'down'; ``since``: unix time, only feedback given at or after it;
        ``adapter`` / ``intent``: only answers whose metadata names them (``""``: the base model).
        """
        if rating is not None and rating not in RATINGS:
            raise InvalidRecordError(f"rating {rating!r} is not one of {', '.join(RATINGS)}")
        sql = (
            "SELECT f.id, f.response_id, f.rating, f.correction, f.comment, f.created_at, m.content, "
            f"{_QUESTION}, m.conversation_id, m.user_id, m.meta "
            "FROM feedback f JOIN messages m ON m.response_id = f.response_id "
            "WHERE (? IS NULL OR f.rating = ?) AND (? IS NULL OR f.created_at >= ?) "
            "AND (? IS NULL OR m.conversation_id = ?) "
            "AND (? IS NULL OR COALESCE(json_extract(m.meta, '$.adapter'), '') = ?) "
            "AND (? IS NULL OR json_extract(m.meta, '$.intent') = ?) ORDER BY f.id DESC LIMIT ? OFFSET ?"
        )
        params = (
            *(rating, rating, since, since, conversation_id, conversation_id),
            *(adapter, adapter, intent, intent, limit, offset),
        )
        rows = self._db.read(lambda conn: conn.execute(sql, params).fetchall(), "list feedback")
        return [_record(row) for row in rows]

    def answers_since(
        self, since: float, *, limit: int = 50_000
    ) -> list[tuple[float, dict[str, Any], list[str]]]:
        """Stored answers (role 'assistant') written at or after ``since`` (unix s), newest first:
        ``(created_at, metadata, ratings)`` with the 'up'/'down' ratings they received (at most
        ``limit`` answers; what the server's dashboard aggregates)."""
        sql = (
            "SELECT m.created_at, m.meta, (SELECT group_concat(f.rating) FROM feedback f "
            "WHERE f.response_id = m.response_id) FROM messages m "
            "WHERE m.role = 'assistant' AND m.created_at >= ? ORDER BY m.created_at DESC LIMIT ?"
        )
        rows = self._db.read(lambda conn: conn.execute(sql, (since, limit)).fetchall(), "read answers")
        return [
            (float(created), json.loads(meta) if meta else {}, ratings.split(",") if ratings else [])
            for created, meta, ratings in rows
        ]
