"""Combined: role + user context, similarity-selected examples, and chain-of-thought, composed.

The parts are the other strategies' own ``contribute`` methods, run in order; nothing is copied.
Knowledge passages join when a knowledge base is configured (the part adds nothing otherwise).
"""

from __future__ import annotations

from supportkit.prompts.base import STRATEGIES, PromptContext, PromptPlan, PromptRequest, Strategy
from supportkit.prompts.chain_of_thought import ChainOfThought
from supportkit.prompts.few_shot import FewShot
from supportkit.prompts.knowledge import Knowledge
from supportkit.prompts.role_context import RoleContext


@STRATEGIES.register("combined")
class Combined(Strategy):
    name = "combined"
    PARTS: tuple[type[Strategy], ...] = (RoleContext, Knowledge, FewShot, ChainOfThought)

    def contribute(self, plan: PromptPlan, request: PromptRequest, ctx: PromptContext) -> None:
        for part in self.PARTS:
            part().contribute(plan, request, ctx)
