"""Role and user context: a role's instructions and tone, plus what we know about the customer.

The customer's profile is rendered by :func:`supportkit.privacy.secrets.render_user_context`:
fields the secrets policy withholds (by name or value, nested too) never reach the prompt.
"""

from __future__ import annotations

from supportkit.privacy.secrets import SecretsPolicy, render_user_context
from supportkit.prompts.base import PromptContext, PromptPlan, PromptRequest, Strategy, register_strategy
from supportkit.prompts.roles import resolve_role


@register_strategy("role_context")
class RoleContext(Strategy):
    def contribute(self, plan: PromptPlan, request: PromptRequest, ctx: PromptContext) -> None:
        role = resolve_role(request.role, ctx.prompt_set, ctx.custom_roles)
        plan.role = role.name
        plan.system.insert(1, role.render())
        lines = render_user_context(request.user_context or {}, ctx.secrets or SecretsPolicy())
        if lines:
            plan.system.append(ctx.prompt_set.user_context_intro + "\n" + "\n".join(lines))


__all__ = ["RoleContext", "render_user_context"]
