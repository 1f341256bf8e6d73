"""Escalation rules: named regular expressions that send a request to a person.

The patterns are guardrail policy, so they live here; ``guardrails.escalate_rules`` names the
built-ins that apply and ``guardrails.escalate_patterns`` adds (or replaces) rules of its own.
Another rule is one call: ``ESCALATION_RULES.add("fraud", r"\\b(fraud|scam)\\b")``.
"""

from __future__ import annotations

from supportkit.config import GuardrailsConfig
from supportkit.registry import Registry

#: Rule name -> regular expression, matched case-insensitively anywhere in the request.
ESCALATION_RULES: Registry[str] = Registry("escalation rule")

ESCALATION_RULES.add(
    "human_request",
    r"\b(speak|talk|chat|connect|transfer|put me through|get me|hand me|pass me)\b.{0,40}"
    r"\b(human|person|people|agent|representative|rep|someone|somebody|manager|supervisor|staff|operator)\b"
    r"|\b(someone|somebody|a person|a human|real person)\b.{0,25}\b(call|talk|speak|help)\b"
    r"|\b(a|an|real|live)\s+(human|person|agent)\b.{0,30}\b(look|help|review|check|handle|see)\b"
    r"|^\W*(operator|agent|human|representative|real person)\W*(please|now)?\W*$",
)
ESCALATION_RULES.add(
    "legal",
    r"\b(lawyer|attorney|solicitor|sue|suing|lawsuit|legal action|court|regulator|ombudsman"
    r"|consumer protection|attorney general|trading standards)\b",
)


def escalation_patterns(settings: GuardrailsConfig) -> dict[str, str]:
    """Reason -> pattern for the rules ``settings`` turns on, in order (built-ins, then its own).

    Raises :class:`~supportkit.errors.UnknownNameError` (a ``ConfigError``) for a rule name in
    ``escalate_rules`` that is not registered, listing the known ones.
    """
    patterns = {name: ESCALATION_RULES.get(name) for name in settings.escalate_rules}
    patterns.update(settings.escalate_patterns)
    return patterns
