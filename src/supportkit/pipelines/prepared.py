"""``Prepared``: a request after the pipeline's prepare stage, ready to decode."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from supportkit.generation import DecodeItem, Sampling
from supportkit.guardrails.guard import Assessment
from supportkit.pipelines.intake import Intake
from supportkit.pipelines.response import Request
from supportkit.prompts import PromptPlan
from supportkit.prompts.render import RenderedPrompt
from supportkit.retrieval.knowledge import Hit


@dataclass(frozen=True)
class Prepared:
    """A request ready to decode: its prompt, adapter, decode settings and pre-generation checks."""

    request: Request
    plan: PromptPlan
    rendered: RenderedPrompt
    adapter: str | None
    assessment: Assessment
    #: The user's profile and request context merged (for slots and the hand-off summary).
    context: dict[str, Any]
    sampling: Sampling
    #: Passages the answer is checked against: the prompt's, else the assessment's (any strategy).
    check_passages: list[Hit] = field(default_factory=list)
    #: The checked question (cut?) and its language (see :mod:`supportkit.pipelines.intake`).
    intake: Intake | None = None
    #: Leading prompt tokens a prefix cache may share with other requests (see ``DecodeItem``).
    shared_prefix: int = 0

    @property
    def recorded(self) -> Request:
        """The request as the store keeps it: its question cleaned (whole, before any cut)."""
        return replace(self.request, query=self.intake.query.whole) if self.intake else self.request

    @property
    def escalated(self) -> bool:
        """True when the request is handed to a person without generating."""
        return self.assessment.escalation is not None

    def item(self, cancel: Any = None) -> DecodeItem:
        return DecodeItem(
            tuple(self.rendered.input_ids),
            self.adapter,
            self.sampling,
            cancel,
            shared_prefix=self.shared_prefix,
        )
