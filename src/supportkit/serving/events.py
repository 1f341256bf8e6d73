"""What the engine sends a request's client: text deltas, then the result or a failure; and the
request's generation settings and the busy signal (:class:`Overloaded`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Overloaded(Exception):
    """The queue is full; ``retry_after`` (seconds) is a fair guess of when a slot frees."""

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message or f"the server is busy; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Settings:
    """Generation settings a request may change (``None``: the configured default)."""

    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass
class Result:
    """A finished answer and the metadata the API returns."""

    text: str
    finish_reason: str
    prompt_tokens: int
    generated_tokens: int
    strategy: str | None = None
    role: str | None = None
    adapter: str | None = None
    prompt_version: str | None = None
    intent: str | None = None
    citations: list[str] = field(default_factory=list)
    escalation: dict[str, Any] | None = None
    #: The model's answer a hand-off replaced (stored for the agent-reply export, never returned).
    withheld: str | None = None
    groundedness: float | None = None
    guardrails: dict[str, int] = field(default_factory=dict)
    input_truncated: dict[str, int] | None = None
    language: dict[str, Any] | None = None


@dataclass
class Delta:
    text: str


@dataclass
class Done:
    result: Result


@dataclass
class Failed:
    status: int
    message: str


Event = Delta | Done | Failed
