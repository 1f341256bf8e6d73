"""Example files into example banks: the few-shot bank and the intent detector's labelled examples.

The bank (``retrieval/``) stores and searches examples; reading a user's file (formats, column
mapping, bad rows, redaction) is the data layer's, so it happens here and the bank only caches the
vectors by the file's content.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from supportkit.data.readers import read_qa_examples
from supportkit.retrieval.bank import ExampleBank


def load_examples(
    bank: ExampleBank,
    path: str | Path,
    *,
    on_error: str = "raise",
    column_mapping: Mapping[str, str] | None = None,
    csv_delimiter: str | None = None,
    redact_pii: bool | Callable[[str], str] = False,
) -> int:
    """Add every question/answer example of the dataset file ``path`` to ``bank``.

    Arguments are those of :func:`~supportkit.data.readers.read_qa_examples`. Returns how many were
    added.

    Raises:
        DataError: a missing or unreadable file, or a bad row with ``on_error="raise"``.
    """
    examples, _ = read_qa_examples(
        path,
        on_error=on_error,
        column_mapping=column_mapping,
        csv_delimiter=csv_delimiter,
        redact_pii=redact_pii,
    )
    return bank.extend_cached(examples, source=path)
