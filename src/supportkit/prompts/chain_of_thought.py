"""Chain-of-thought: a short structured analysis, then a clearly delimited final answer.

The customer sees only the text after the answer marker; the analysis is kept as ``reasoning`` in
the response metadata. A model that ignores the format still produces an answer: the whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from supportkit.prompts.base import PromptContext, PromptPlan, PromptRequest, Strategy, register_strategy


@register_strategy("cot")
class ChainOfThought(Strategy):
    def contribute(self, plan: PromptPlan, request: PromptRequest, ctx: PromptContext) -> None:
        plan.system.append(ctx.prompt_set.cot_instruction)
        plan.answer_marker = ctx.prompt_set.answer_marker


@dataclass(frozen=True)
class ParsedAnswer:
    answer: str
    reasoning: str | None
    #: Whether the answer marker was found (with text after it).
    found: bool = False


def split_reasoning(text: str, marker: str) -> ParsedAnswer:
    """Split generated text at the last answer marker (case-insensitive, markdown tolerated)."""
    pattern = re.compile(r"[*_#\s]*" + re.escape(marker.rstrip(":")) + r"[*_\s]*:[*_\s]*", re.IGNORECASE)
    matches = list(pattern.finditer(text))
    if matches:
        last = matches[-1]
        answer = text[last.end() :].strip()
        reasoning = text[: last.start()].strip()
        if answer:
            return ParsedAnswer(answer=answer, reasoning=reasoning or None, found=True)
    return ParsedAnswer(answer=text.strip(), reasoning=None)
