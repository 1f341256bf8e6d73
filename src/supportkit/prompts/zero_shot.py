"""Zero-shot: the prompt set's system instruction and the query (plus conversation history)."""

from __future__ import annotations

from supportkit.prompts.base import PromptContext, PromptPlan, PromptRequest, Strategy, register_strategy


@register_strategy("zero_shot")
class ZeroShot(Strategy):
    def contribute(self, plan: PromptPlan, request: PromptRequest, ctx: PromptContext) -> None:
        """Nothing beyond the base plan."""
