"""What every part of the store shares: the database, the message rules (roles, redaction, size cap)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from supportkit.store.connection import Database, InvalidRecordError

ROLES = ("user", "assistant", "agent", "system")
OVERSIZE_POLICIES = ("truncate", "error")
#: The smallest ``max_message_chars`` accepted: room for the truncation marker and some text.
MIN_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class Message:
    """One stored message.

    ``role``: 'user' (the customer), 'assistant' (the model), 'agent' (a human who took over) or
    'system'. ``response_id``: unique across the store, what feedback refers to. ``metadata``: JSON
    values (adapter, strategy, prompt_version, latency_s, ttft_s, prompt_tokens, generated_tokens,
    escalation, groundedness, ...); a truthy ``escalation`` marks its conversation escalated.
    ``created_at``: unix time in seconds (``None``: when written). ``id``: set when read back.
    """

    role: str
    content: str
    response_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: float | None = None
    id: int | None = None


#: (role, content, response_id, metadata JSON, created_at): a message ready to insert.
PreparedMessage = tuple[str, str, str | None, str | None, float]


def truncation_marker(original_chars: int) -> str:
    return f"\n[truncated by the store: the message had {original_chars} characters]"


def prompt_turns(rows: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """Stored (role, content) rows as prompt history: 'agent' speaks as the assistant."""
    return [{"role": "assistant" if role == "agent" else role, "content": content} for role, content in rows]


class StoreBase:
    """State and helpers of :class:`supportkit.store.Store` (see there for the arguments)."""

    def __init__(
        self,
        db: Database,
        *,
        redact: Callable[[str], str] | None,
        max_message_chars: int | None,
        oversize: Literal["truncate", "error"],
    ) -> None:
        if max_message_chars is not None and max_message_chars < MIN_MESSAGE_CHARS:
            raise ValueError(
                f"max_message_chars must be at least {MIN_MESSAGE_CHARS}, got {max_message_chars}"
            )
        if oversize not in OVERSIZE_POLICIES:
            raise ValueError(f"oversize must be one of {OVERSIZE_POLICIES}, got {oversize!r}")
        self._db = db
        self.redact = redact
        self.max_message_chars = max_message_chars
        self.oversize = oversize

    # --- what a message may hold -----------------------------------------------------------------
    def _clean_text(self, text: Any, what: str) -> str:
        """Redact, then cap: redacting first means a cut never leaves half a card number behind."""
        if not isinstance(text, str):
            raise InvalidRecordError(f"{what} must be text, got {type(text).__name__}")
        if self.redact is not None:
            text = self.redact(text)
        cap = self.max_message_chars
        if cap is not None and len(text) > cap:
            if self.oversize == "error":
                raise InvalidRecordError(
                    f"{what} has {len(text)} characters, more than the store keeps ({cap}, "
                    "max_message_chars); shorten it or raise the limit"
                )
            marker = truncation_marker(len(text))
            text = text[: cap - len(marker)] + marker
        return text

    def _clean_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value) if self.redact is not None else value
        if isinstance(value, Mapping):
            return {str(k): self._clean_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean_value(v) for v in value]
        return value

    def _meta_json(self, meta: Mapping[str, Any] | None) -> str | None:
        if not meta:
            return None
        if not isinstance(meta, Mapping):
            raise InvalidRecordError(f"message metadata must be a mapping, got {type(meta).__name__}")
        return json.dumps(self._clean_value(meta), ensure_ascii=False, default=str)

    def _prepare(self, messages: Sequence[Message]) -> list[PreparedMessage]:
        """Validate, redact and cap ``messages`` (before any lock is taken: redaction may be slow)."""
        now = time.time()
        prepared = []
        for n, message in enumerate(messages):
            if message.role not in ROLES:
                raise InvalidRecordError(
                    f"message {n}: role {message.role!r} is not one of {', '.join(ROLES)}"
                )
            if message.response_id is not None and not isinstance(message.response_id, str):
                raise InvalidRecordError(f"message {n}: response_id must be text")
            prepared.append(
                (
                    message.role,
                    self._clean_text(message.content, f"message {n} content"),
                    message.response_id,
                    self._meta_json(message.metadata),
                    now if message.created_at is None else float(message.created_at),
                )
            )
        return prepared

    @staticmethod
    def _insert(
        conn: sqlite3.Connection,
        user_id: str | None,
        conversation_id: str | None,
        prepared: Sequence[PreparedMessage],
    ) -> list[int]:
        """Insert prepared messages inside the caller's transaction; returns their row ids."""
        ids = []
        for role, content, response_id, meta, created_at in prepared:
            cursor = conn.execute(
                "INSERT INTO messages (user_id, conversation_id, role, content, response_id, meta, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user_id, conversation_id, role, content, response_id, meta, created_at),
            )
            ids.append(int(cursor.lastrowid or 0))
        return ids
