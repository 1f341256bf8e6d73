"""Limits shared by a config default and the layer that enforces them (one number, one home)."""

from __future__ import annotations

#: Longest question the pipeline reads (``guardrails.max_query_chars``), and the most of a query
#: retrieval embeds. MiniLM reads its first 256 word pieces (about 1,000-2,000 characters of
#: English), so embedding more only costs tokenizer time.
DEFAULT_MAX_QUERY_CHARS = 4_000
