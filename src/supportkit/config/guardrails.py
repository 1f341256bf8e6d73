"""The ``guardrails`` section: escalation to a person and the checks on every answer.

The escalation rules themselves (regular expressions) are guardrail policy and live in
:mod:`supportkit.guardrails.rules`; this section names which of them apply.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field

from supportkit.config.base import Section
from supportkit.config.limits import DEFAULT_MAX_QUERY_CHARS
from supportkit.utils.validation import check_choice, check_fraction, check_positive, fail


@dataclass
class GuardrailsConfig(Section):
    """Escalation to a person and checks on every answer before the customer sees it."""

    section: typing.ClassVar[str] = "guardrails"
    escalation: bool = True
    #: Detected intents that always go to a person.
    escalate_intents: list[str] = field(
        default_factory=lambda: ["complaint", "delete_account", "human_agent"]
    )
    #: Built-in escalation rules by name (their regexes are guardrail policy, kept in
    #: ``supportkit.guardrails.rules``): ``human_request`` (asks for a person) and ``legal``.
    #: A request matching one is escalated with the rule's name as the reason; ``[]``: none.
    escalate_rules: list[str] = field(default_factory=lambda: ["human_request", "legal"])
    #: Your own rules, reason -> regular expression (case-insensitive); a reason that is also a
    #: built-in rule's name replaces that rule's pattern.
    escalate_patterns: dict[str, str] = field(default_factory=dict)
    #: Labelled examples for the intent detector (JSONL/CSV with intents); default: the few-shot bank.
    intent_file: str | None = None
    intent_k: int = 7
    #: Below this vote share the detected intent is not trusted for escalation.
    min_intent_confidence: float = 0.5
    #: Nothing relevant (with a knowledge base configured): escalate when the best passage AND the
    #: best few-shot/intent example are both less similar than these.
    min_retrieval_similarity: float = 0.35
    min_example_similarity: float = 0.55
    #: Below this share of supported answer sentences the model's answer is not sent: with
    #: ``on_ungrounded: extract`` the best-matching sentences of the top article are quoted (with
    #: its citation) when it is at least ``min_extract_similarity`` similar to the question;
    #: otherwise (or with ``escalate``) the request goes to a person.
    min_groundedness: float = 0.5
    #: An answer must also answer the question (a figure question gets one of the top article's
    #: figures; see ``GroundednessChecker.answer_problem``); one that does not counts as ungrounded.
    require_answer: bool = True
    on_ungrounded: str = "extract"
    min_extract_similarity: float = 0.5
    handoff_message: str = (
        "Thank you for your patience. I've passed your request to a member of our support team, "
        "who will follow up with you shortly."
    )
    #: Replace emails, phone numbers, IBANs, card numbers, national IDs and keys/tokens in answers.
    redact_output: bool = True
    #: Regions (ISO 3166 codes) whose national phone formats are redacted; ``+CC`` numbers always
    #: are. ``None``: US, GB, DE, FR, IN, BR (``supportkit.privacy.pii.DEFAULT_REGIONS``).
    pii_regions: list[str] | None = None
    #: Profile field names withheld from prompts, slots and hand-offs on top of the built-in deny
    #: list (``supportkit.privacy.secrets.DEFAULT_SECRET_FIELDS``); any spelling matches.
    secret_fields: list[str] = field(default_factory=list)
    #: Profile fields the hand-off summary shows a person (secrets still withheld). ``None``: name,
    #: email, customer/account id, account type, plan, order ids, ... (``DEFAULT_HANDOFF_FIELDS``).
    handoff_fields: list[str] | None = None
    #: Replace an answer that repeats this many consecutive words of the system instructions.
    leak_min_words: int = 12
    leak_message: str = (
        "I'm sorry, I can't share that. Is there anything about your order or account I can help with?"
    )
    #: Values for ``{{Slot Name}}`` placeholders (the user's profile/context is looked up first).
    slots: dict[str, str] = field(default_factory=dict)
    #: Cut answers at the last sentence end before this many characters (``None``: no cap).
    max_chars: int | None = 1200
    #: Cut the answer at the first of these strings.
    stop_sequences: list[str] = field(default_factory=list)
    #: Longest question in characters: a longer one is cut at a word boundary before it and the
    #: response says so (``input_truncated``). 4,000 is also what retrieval embeds of a query.
    max_query_chars: int = DEFAULT_MAX_QUERY_CHARS
    #: A question in a language outside ``model.languages``: ``escalate`` (hand off with reason
    #: ``unsupported_language``) or ``notice`` (answer in the first supported language, after
    #: ``language_notice``; with nothing relevant found it is handed off with that reason too).
    #: With ``escalation: false`` it is always ``notice``.
    unsupported_language: str = "escalate"
    #: Put before such an answer; ``{language}`` and ``{answer_language}`` are language names.
    language_notice: str = (
        "Sorry, I can't answer in {language} yet, so here is my answer in {answer_language}."
    )

    def validate(self) -> None:
        check_positive("guardrails", self, "intent_k", "leak_min_words", "max_chars")
        check_fraction(
            "guardrails",
            self,
            "min_intent_confidence",
            "min_retrieval_similarity",
            "min_example_similarity",
            "min_groundedness",
            "min_extract_similarity",
        )
        check_choice("guardrails", self, "on_ungrounded", ("extract", "escalate"))
        check_choice("guardrails", self, "unsupported_language", ("escalate", "notice"))
        check_positive("guardrails", self, "max_query_chars")
        try:
            str(self.language_notice).format(language="German", answer_language="English")
        except (KeyError, IndexError, ValueError) as exc:
            fail(
                "guardrails",
                "language_notice",
                self.language_notice,
                f"a text whose only placeholders are {{language}} and {{answer_language}} ({exc})",
            )
        for name in ("secret_fields", "handoff_fields", "pii_regions"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)
            ):
                fail("guardrails", name, value, "a list of names")
        import phonenumbers

        unknown = sorted(set(self.pii_regions or ()) - phonenumbers.SUPPORTED_REGIONS)
        if unknown:
            fail("guardrails", "pii_regions", unknown, "ISO 3166 region codes such as US, GB, DE")
        if not isinstance(self.handoff_message, str) or not self.handoff_message.strip():
            fail("guardrails", "handoff_message", self.handoff_message, "a non-empty message")
        rules = self.escalate_rules
        if not isinstance(rules, list) or not all(isinstance(r, str) and r for r in rules):
            fail("guardrails", "escalate_rules", rules, "a list of rule names such as human_request")
        for reason, pattern in self.escalate_patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                fail(
                    "guardrails",
                    f"escalate_patterns.{reason}",
                    pattern,
                    f"a valid regular expression ({exc})",
                )
