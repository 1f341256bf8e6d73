"""Combined: role + user context, knowledge passages, similarity-selected examples and
chain-of-thought, composed.

The parts are the other strategies' own ``contribute`` methods, run in order; nothing is copied.
``prompt.combined_parts`` chooses them (default: all four); the knowledge part adds nothing
when no knowledge base is configured.
"""

from __future__ import annotations

from supportkit.prompts.base import (
    STRATEGIES,
    PromptContext,
    PromptPlan,
    PromptRequest,
    Strategy,
    register_strategy,
)


@register_strategy("combined")
class Combined(Strategy):
    def contribute(self, plan: PromptPlan, request: PromptRequest, ctx: PromptContext) -> None:
        for part in ctx.combined_parts:
            STRATEGIES.get(part)().contribute(plan, request, ctx)
