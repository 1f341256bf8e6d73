"""Durable storage in SQLite (WAL, versioned migrations): user profiles and conversation history.

Later features (sessions, feedback) add tables by appending a migration to ``MIGRATIONS``.
"""

from supportkit.store.sqlite import MIGRATIONS, Store

__all__ = ["MIGRATIONS", "Store"]
