"""Prompt strategies: each a small registered class turning a request into chat messages.

Importing this package registers the built-in strategies: zero_shot, few_shot, cot,
knowledge, role_context and combined.
"""

from __future__ import annotations

from supportkit.prompts import (  # noqa: F401
    chain_of_thought,
    combined,
    few_shot,
    knowledge,
    role_context,
    zero_shot,
)
from supportkit.prompts.base import (
    AUTO,
    STRATEGIES,
    PromptContext,
    PromptPlan,
    PromptRequest,
    Strategy,
    choose_strategy,
    strategy_names,
)

__all__ = [
    "AUTO",
    "STRATEGIES",
    "PromptContext",
    "PromptPlan",
    "PromptRequest",
    "Strategy",
    "choose_strategy",
    "strategy_names",
]
