"""One question/answer example: what example banks hold and few-shot prompts show."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QAExample:
    """A question and its answer (a conversation's last user message and final answer), with the
    intent and category when the data has them."""

    question: str
    answer: str
    intent: str | None = None
    category: str | None = None
