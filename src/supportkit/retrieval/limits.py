"""Bounds on what one query may cost retrieval, whatever its length.

A pasted log or document (100,000 characters) must not cost CPU-minutes: BM25 counts at most
``MAX_QUERY_TERMS`` distinct terms (:class:`~supportkit.retrieval.lexical.BM25Scorer`), and only
the first ``MAX_EMBED_QUERY_CHARS`` characters are embedded.
"""

from __future__ import annotations

from supportkit.config.limits import DEFAULT_MAX_QUERY_CHARS

#: Distinct query terms BM25 scores at most (``knowledge.max_query_terms``): the most informative
#: (highest IDF) are kept. A support question has far fewer, so its ranking is unchanged.
MAX_QUERY_TERMS = 64

#: Characters of a query that are embedded (the pipeline's question limit, ``guardrails.max_query_chars``,
#: defaults to the same number; see :mod:`supportkit.config.limits`).
MAX_EMBED_QUERY_CHARS = DEFAULT_MAX_QUERY_CHARS


def embedding_query(text: str, max_chars: int = MAX_EMBED_QUERY_CHARS) -> str:
    """The part of ``text`` worth embedding as a query: its first ``max_chars`` characters."""
    return text[:max_chars]
