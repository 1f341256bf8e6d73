"""Escalation rules are guardrail policy: named in the config, defined in guardrails/rules.py."""

from __future__ import annotations

import pytest

from supportkit.config import Config, GuardrailsConfig
from supportkit.errors import ConfigError, UnknownNameError
from supportkit.guardrails.escalation import request_escalation
from supportkit.guardrails.rules import ESCALATION_RULES, escalation_patterns


def _reason(query: str, settings: GuardrailsConfig) -> str | None:
    found = request_escalation(query, settings, intent=None, best_passage=None, best_example=None)
    return found[0] if found else None


def test_built_in_rules_apply_by_default_and_can_be_turned_off() -> None:
    assert GuardrailsConfig().escalate_patterns == {}  # no regexes in the config section
    assert _reason("Can I speak to a human please?", GuardrailsConfig()) == "human_request"
    assert _reason("I will contact my lawyer about this", GuardrailsConfig()) == "legal"
    assert (
        _reason("I will contact my lawyer about this", GuardrailsConfig(escalate_rules=["human_request"]))
        is None
    )
    assert _reason("Can I speak to a human please?", GuardrailsConfig(escalate_rules=[])) is None


def test_own_patterns_add_rules_and_replace_built_ins_of_the_same_name() -> None:
    settings = Config().with_overrides(["guardrails.escalate_patterns.legal=\\bsmall claims\\b"]).guardrails
    assert _reason("I will contact my lawyer", settings) is None
    assert _reason("I'm taking this to Small Claims", settings) == "legal"
    settings = GuardrailsConfig(escalate_patterns={"fraud": r"\bscam\b"})
    assert list(escalation_patterns(settings)) == ["human_request", "legal", "fraud"]
    assert _reason("this is a scam", settings) == "fraud"


def test_unknown_rule_names_are_config_errors_listing_the_known_ones() -> None:
    with pytest.raises(
        UnknownNameError, match=r"unknown escalation rule 'lawyer'; known: human_request, legal"
    ):
        escalation_patterns(GuardrailsConfig(escalate_rules=["lawyer"]))
    with pytest.raises(ConfigError, match=r"guardrails.escalate_rules"):
        Config.from_dict({"guardrails": {"escalate_rules": [""]}})
    assert "human_request" in ESCALATION_RULES
