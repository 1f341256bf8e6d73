"""Few-shot: examples from the bank, chosen by the configured selector, as prior chat turns."""

from __future__ import annotations

from supportkit.prompts.base import PromptContext, PromptPlan, PromptRequest, Strategy, register_strategy


@register_strategy("few_shot")
class FewShot(Strategy):
    def contribute(self, plan: PromptPlan, request: PromptRequest, ctx: PromptContext) -> None:
        plan.examples = ctx.selector.select(ctx.bank, request.query, ctx.num_examples, intent=request.intent)
        if plan.examples:
            plan.system.append(ctx.prompt_set.few_shot_intro)
