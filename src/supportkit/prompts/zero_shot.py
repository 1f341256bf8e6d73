"""Zero-shot: the prompt set's system instruction and the query (plus conversation history)."""

from __future__ import annotations

from supportkit.prompts.base import STRATEGIES, PromptContext, PromptPlan, PromptRequest, Strategy


@STRATEGIES.register("zero_shot")
class ZeroShot(Strategy):
    name = "zero_shot"

    def contribute(self, plan: PromptPlan, request: PromptRequest, ctx: PromptContext) -> None:
        """Nothing beyond the base plan."""
