"""Role and user context: a role's instructions and tone, plus what we know about the customer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supportkit.prompts.base import PromptContext, PromptPlan, PromptRequest, Strategy, register_strategy
from supportkit.prompts.roles import resolve_role

#: Profile fields that must never reach a prompt (secrets, credentials).
SECRET_FIELDS = ("password", "secret", "token", "api_key", "apikey", "card_number", "cvv", "ssn")


def render_user_context(context: Mapping[str, Any]) -> list[str]:
    """One line per field ("- account type: premium"), secrets left out."""
    lines = []
    for key, value in context.items():
        name = str(key)
        if any(s in name.lower() for s in SECRET_FIELDS) or value in (None, "", [], {}):
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(map(str, value))
        elif isinstance(value, Mapping):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        lines.append(f"- {name.replace('_', ' ')}: {value}")
    return lines


@register_strategy("role_context")
class RoleContext(Strategy):
    def contribute(self, plan: PromptPlan, request: PromptRequest, ctx: PromptContext) -> None:
        role = resolve_role(request.role, ctx.prompt_set, ctx.custom_roles)
        plan.role = role.name
        plan.system.insert(1, role.render())
        lines = render_user_context(request.user_context or {})
        if lines:
            plan.system.append(ctx.prompt_set.user_context_intro + "\n" + "\n".join(lines))
