"""When a request goes to a person instead of the model, and what the person is handed.

Rules, in order (the first that applies is the reason):

1. an escalation rule matches (``human_request``, ``legal``, ...: :mod:`supportkit.guardrails.rules`);
2. the question is in a language outside ``model.languages`` and ``guardrails.unsupported_language``
   is ``escalate`` (``unsupported_language``; intent and similarity mean little then);
3. the detected intent is on ``guardrails.escalate_intents`` with enough confidence
   (reason ``intent:<name>``);
4. nothing relevant (only with a knowledge base configured): the best passage and the best
   labelled or few-shot example are both below their thresholds (``no_match``, or
   ``unsupported_language`` when the question's language is why);
5. after generation, the answer's groundedness is below ``min_groundedness``
   (``low_groundedness``; see :mod:`supportkit.guardrails.groundedness`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from supportkit.config import GuardrailsConfig
from supportkit.guardrails.intent import IntentGuess
from supportkit.guardrails.language import LanguageGuess
from supportkit.guardrails.rules import escalation_patterns
from supportkit.privacy.secrets import DEFAULT_HANDOFF_FIELDS, SecretsPolicy, render_user_context, scrub_text
from supportkit.retrieval.knowledge import Hit


@dataclass
class HandoffSummary:
    """What the human agent sees first."""

    reason: str
    detail: str
    intent: str | None
    intent_confidence: float | None
    #: The customer's questions in this conversation, oldest first, the current one last.
    questions: list[str]
    #: Articles retrieved for the question (title and similarity).
    retrieved: list[dict[str, Any]]
    #: Allow-listed profile fields (``guardrails.handoff_fields``; secrets still withheld), one line each.
    profile: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        lines = [f"Escalated: {self.reason} ({self.detail})"]
        if self.intent:
            lines.append(f"Intent: {self.intent} (confidence {self.intent_confidence or 0:.2f})")
        lines.append("Customer asked:")
        lines += [f"  - {q}" for q in self.questions]
        if self.retrieved:
            lines.append(
                "Retrieved: " + "; ".join(f"{r['title']} ({r['similarity']:.2f})" for r in self.retrieved)
            )
        if self.profile:
            lines.append("Profile:")
            lines += [f"  {p}" for p in self.profile]
        return "\n".join(lines)


@dataclass
class Escalation:
    reason: str
    detail: str
    summary: HandoffSummary

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "detail": self.detail, "summary": self.summary.to_dict()}


def request_escalation(
    query: str,
    settings: GuardrailsConfig,
    *,
    intent: IntentGuess | None,
    best_passage: float | None,
    best_example: float | None,
    language: LanguageGuess | None = None,
) -> tuple[str, str] | None:
    """The (reason, detail) of rules 1-4, or ``None`` when the model may answer."""
    for reason, pattern in escalation_patterns(settings).items():
        match = re.search(pattern, query, re.IGNORECASE)
        if match:
            return reason, f"the request matches {reason!r}: {match.group(0).strip()!r}"
    foreign = language is not None and not language.supported
    if foreign and settings.unsupported_language == "escalate":
        return "unsupported_language", _language_detail(language)
    if (
        not foreign
        and intent is not None
        and intent.intent in settings.escalate_intents
        and intent.confidence >= settings.min_intent_confidence
    ):
        return (
            f"intent:{intent.intent}",
            f"detected intent {intent.intent} (confidence {intent.confidence:.2f})",
        )
    # Only with a knowledge base: a bank of a few examples alone says little about being in scope.
    no_passage = best_passage is not None and best_passage < settings.min_retrieval_similarity
    no_example = best_example is None or best_example < settings.min_example_similarity
    if no_passage and no_example:
        detail = f"nothing relevant: best passage {_fmt(best_passage)}, best example {_fmt(best_example)}"
        if foreign:
            return "unsupported_language", f"{_language_detail(language)}; {detail}"
        return "no_match", detail
    return None


def _language_detail(language: LanguageGuess | None) -> str:
    if language is None:
        return ""
    return f"the question is in {language.name} ({language.code}, confidence {language.confidence:.2f})"


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def handoff_summary(
    reason: str,
    detail: str,
    *,
    query: str,
    history: Sequence[Mapping[str, str]],
    intent: IntentGuess | None,
    hits: Sequence[Hit],
    profile: Mapping[str, Any],
    fields: Iterable[str] = DEFAULT_HANDOFF_FIELDS,
    secrets: SecretsPolicy | None = None,
    redact: Callable[[str], str] | None = None,
) -> HandoffSummary:
    """What the agent is handed. ``profile`` is reduced to the allow-listed ``fields`` (then the
    secrets policy applies); card numbers, IBANs and tokens in the questions are always replaced,
    and with ``redact`` (e.g. :class:`supportkit.privacy.pii.Redactor` when ``redact_pii`` is on)
    the questions and profile lines are redacted too."""
    clean = redact or (lambda text: text)
    questions = [
        clean(scrub_text(m["content"]))
        for m in [*history, {"role": "user", "content": query}]
        if m.get("role") == "user"
    ]
    return HandoffSummary(
        reason=reason,
        detail=detail,
        intent=intent.intent if intent else None,
        intent_confidence=round(intent.confidence, 3) if intent else None,
        questions=questions,
        retrieved=[
            {"title": h.passage.title, "article": h.passage.article_id, "similarity": round(h.similarity, 3)}
            for h in hits
        ],
        profile=[clean(line) for line in render_user_context(profile, secrets, allow=fields)],
    )
