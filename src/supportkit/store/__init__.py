"""Durable storage in SQLite (WAL, versioned migrations): profiles, history, conversations, feedback.

Later features add tables by appending a migration to ``MIGRATIONS``.
"""

from supportkit.store.base import Message
from supportkit.store.connection import ConflictError, InvalidRecordError, NotFoundError, StoreError
from supportkit.store.conversations import Conversation
from supportkit.store.feedback import FeedbackRecord
from supportkit.store.sqlite import MIGRATIONS, Store

__all__ = [
    "MIGRATIONS",
    "ConflictError",
    "Conversation",
    "FeedbackRecord",
    "InvalidRecordError",
    "Message",
    "NotFoundError",
    "Store",
    "StoreError",
]
