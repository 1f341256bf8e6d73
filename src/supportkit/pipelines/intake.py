"""What every request is checked for before it is planned (the pipeline's ``prepare`` calls these).

* the question: cleaned, secrets replaced (keys, passwords, cards, IBANs, national IDs:
  :func:`supportkit.privacy.redact_secrets`), refused when empty, cut at
  ``guardrails.max_query_chars`` (:mod:`supportkit.guardrails.inputs`);
* the user context is a mapping; history messages are cleaned like the question, secrets too;
* the question's language against ``model.languages`` (:mod:`supportkit.guardrails.language`): in
  ``notice`` mode an answer in an unsupported language gets the notice and the prompt asks for the
  first supported language;
* the decode settings a request overrides are in range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from supportkit.errors import RequestError
from supportkit.generation import Sampling
from supportkit.guardrails.inputs import CheckedQuery, check_query, clean_text
from supportkit.guardrails.language import LanguageDetector, LanguageGuess, language_name
from supportkit.pipelines.response import Request
from supportkit.pipelines.settings import PipelineSettings
from supportkit.privacy import redact_secrets


@dataclass(frozen=True)
class Intake:
    """A request's checked question, cleaned history and detected language."""

    query: CheckedQuery
    history: list[Mapping[str, str]] | None
    language: LanguageGuess

    def language_meta(self, settings: PipelineSettings) -> dict[str, Any]:
        """``Response.language``: code, confidence, supported, and the action taken when not."""
        meta = self.language.to_dict()
        meta["action"] = None if self.language.supported else settings.unsupported_language
        return meta

    def notice(self, settings: PipelineSettings) -> str | None:
        """The text put before an answer to a question in an unsupported language (notice mode)."""
        if self.language.supported or settings.unsupported_language != "notice":
            return None
        return settings.language_notice.format(
            language=self.language.name, answer_language=language_name(settings.languages[0])
        )

    def reply_instruction(self, settings: PipelineSettings) -> str | None:
        """A system line asking for the first supported language (notice mode only)."""
        if self.notice(settings) is None:
            return None
        answer = language_name(settings.languages[0])
        return f"The customer wrote in {self.language.name}. Reply in {answer} only."


def take_in(request: Request, settings: PipelineSettings, detector: LanguageDetector) -> Intake:
    """Check ``request``'s question, context and history. Raises: RequestError."""
    query = request.query
    if isinstance(query, str):  # secrets never reach the prompt (nor the store, nor the hand-off)
        query = redact_secrets(clean_text(query)[0])
    checked = check_query(query, max_chars=settings.max_query_chars)
    if request.user_context is not None and not isinstance(request.user_context, Mapping):
        raise RequestError(
            f"user_context must be a mapping of field to value, got {type(request.user_context).__name__}"
        )
    history = None if request.history is None else _clean_history(request.history)
    return Intake(checked, history, detector.detect(checked.text))


def _clean_history(history: Sequence[Mapping[str, str]]) -> list[Mapping[str, str]]:
    out: list[Mapping[str, str]] = []
    for i, message in enumerate(history):
        if not isinstance(message, Mapping) or not isinstance(message.get("content"), str):
            raise RequestError(f"history[{i}] must be a message with role and text content")
        out.append({**message, "content": redact_secrets(clean_text(message["content"])[0])})
    return out


#: The seeds a request may give (a signed 64-bit integer, as OpenAI's API).
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1


def sampling_for(request: Request, defaults: Sampling) -> Sampling:
    """The decode settings of ``request`` (its overrides on ``defaults``). Raises: RequestError."""
    stop = request.stop
    if isinstance(stop, str) or (stop is not None and not all(isinstance(x, str) for x in stop)):
        raise RequestError("stop must be a list of strings")
    overrides: dict[str, Any] = {
        "max_new_tokens": request.max_new_tokens,
        "do_sample": request.do_sample,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "stop": tuple(s for s in stop if s) if stop is not None else None,
    }
    sampling = replace(defaults, **{k: v for k, v in overrides.items() if v is not None})
    ints = (sampling.max_new_tokens, sampling.seed if sampling.seed is not None else 0)
    numbers = (sampling.temperature, sampling.top_p)
    if (
        not all(isinstance(v, int) and not isinstance(v, bool) for v in ints)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers)
        or not SEED_MIN <= ints[1] <= SEED_MAX  # torch's generator fails the whole decode step
        or sampling.max_new_tokens < 1
        or sampling.temperature <= 0
        or not 0 < sampling.top_p <= 1
    ):
        raise RequestError(
            "max_new_tokens must be an integer >= 1, seed a 64-bit integer, temperature > 0 and top_p "
            "in (0, 1]"
        )
    if sampling.min_new_tokens > sampling.max_new_tokens:
        sampling = replace(sampling, min_new_tokens=sampling.max_new_tokens)
    return sampling
