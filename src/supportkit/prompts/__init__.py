"""Prompt strategies: each a small registered class turning a request into chat messages.

Importing this package registers the built-in strategies: zero_shot, few_shot, cot,
role_context and combined.
"""

from __future__ import annotations

from supportkit.prompts import chain_of_thought, combined, few_shot, role_context, zero_shot  # noqa: F401
from supportkit.prompts.base import STRATEGIES, PromptContext, PromptPlan, PromptRequest, Strategy

__all__ = ["STRATEGIES", "PromptContext", "PromptPlan", "PromptRequest", "Strategy"]
