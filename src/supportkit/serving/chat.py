"""``POST /v1/chat/completions``: validate, queue on the engine, answer whole or as server-sent events.

The last message is the customer's question; earlier user/assistant messages are the history unless
``conversation_id`` names a stored conversation (then the stored turns are the history). A client's
``system``/``developer`` messages never replace the operator's system prompt and rules: they are left
out of the prompt, and the response says so (``supportkit.client_system = "ignored"``).

A turn (question and answer, with the response id) is committed to the store before the answer is
acknowledged (the JSON response, or the stream's finishing chunk); a request that fails stores nothing.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from supportkit.guardrails.inputs import clean_text, has_content
from supportkit.serving import schemas
from supportkit.serving.auth import Principal
from supportkit.serving.engine import Job
from supportkit.serving.errors import APIError, error_body
from supportkit.serving.events import Delta, Done, Failed, Overloaded, Result, Settings
from supportkit.serving.logs import redact_for_log
from supportkit.serving.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    ErrorBody,
    SupportkitMeta,
)
from supportkit.serving.schemas import Delta as Delta_
from supportkit.serving.state import ServerState, authorize, log, state_of
from supportkit.serving.store_io import commit_turn, owned_conversation
from supportkit.serving.takeover import agent_handled
from supportkit.serving.web import sources

router = APIRouter()
#: How often a waiting request checks whether its client is still connected (seconds).
_POLL_S = 0.2

#: Request fields that would change the result and are not supported, with the values that change
#: nothing (besides null/absent): anything else is a 400 naming the field.
_UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    "n": (1,),
    "best_of": (1,),
    "logprobs": (False,),
    "top_logprobs": (0,),
    "tools": ([],),
    "functions": ([],),
    "tool_choice": ("none", "auto"),
    "function_call": ("none", "auto"),
    "logit_bias": ({},),
    "presence_penalty": (0,),
    "frequency_penalty": (0,),
    "echo": (False,),
    "use_beam_search": (False,),
    "audio": (),
    "prediction": (),
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 429, 503, 504)
}
#: With ``stream: true``: server-sent events whose ``data`` is a ``ChatCompletionChunk``, an error
#: body, or ``[DONE]``.
_ERRORS[200] = {
    "content": {
        "text/event-stream": {
            "schema": {
                "type": "object",
                "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
                "required": ["data"],
            }
        }
    }
}


def _text(message: ChatMessage, index: int) -> str:
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise APIError(
                400, f"messages[{index}]: only text content parts are supported", param=f"messages.{index}"
            )
        parts.append(part["text"])
    return "".join(parts)


def _same(value: Any, harmless: Any) -> bool:
    return bool(value == harmless) and isinstance(value, bool) == isinstance(harmless, bool)


def _check(body: ChatCompletionRequest, state: ServerState) -> None:
    extras = body.model_extra or {}
    for name, harmless in _UNSUPPORTED.items():
        value = body.n if name == "n" else extras.get(name)
        if value is not None and not any(_same(value, h) for h in harmless):
            raise APIError(400, f"`{name}` is not supported by this server; leave it out", param=name)
    fmt = extras.get("response_format")
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise APIError(400, "`response_format` other than text is not supported", param="response_format")
    s = state.settings
    if len(body.messages) > s.max_messages:
        raise APIError(400, f"at most {s.max_messages} messages per request", param="messages")
    tokens = body.max_completion_tokens or body.max_tokens
    if tokens is not None and tokens > s.max_tokens_cap:
        raise APIError(400, f"max_tokens is at most {s.max_tokens_cap} on this server", param="max_tokens")
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > 4 or any(not stop for stop in stops):
        raise APIError(400, "`stop` takes at most 4 non-empty strings", param="stop")


def _split(body: ChatCompletionRequest, state: ServerState) -> tuple[str, list[dict[str, str]], bool]:
    """The question, the request's history, and whether client system messages were left out."""
    texts = []
    for i, message in enumerate(body.messages):
        text = clean_text(_text(message, i))[0]
        if len(text) > state.settings.max_message_chars:
            raise APIError(
                400,
                f"messages[{i}] is longer than {state.settings.max_message_chars} characters",
                param=f"messages.{i}",
            )
        if message.role == "tool":
            raise APIError(400, "tool messages are not supported (no tools)", param=f"messages.{i}")
        texts.append(text)
    last = body.messages[-1]
    if last.role != "user" or not has_content(texts[-1]):
        raise APIError(
            400,
            "the last message must be the customer's question (role user, not empty: more than spaces "
            "or control characters)",
            param=f"messages.{len(texts) - 1}",
        )
    history = [
        {"role": m.role, "content": t}
        for m, t in zip(body.messages[:-1], texts[:-1], strict=True)
        if m.role in ("user", "assistant")
    ]
    dropped = any(m.role in ("system", "developer") for m in body.messages)
    return texts[-1], history, dropped


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    responses=_ERRORS,
    summary="Create a chat completion (OpenAI-compatible)",
)
async def chat_completions(request: Request, body: ChatCompletionRequest) -> Any:
    state = state_of(request)
    principal = authorize(request, "chat")
    if body.user and getattr(request.state, "public_key", False):
        raise APIError(
            403,
            "the browser key is public and proves no identity, so it cannot name a `user` (whose "
            "profile would fill the prompt and the answer); send `user` from your own server with a "
            "chat key of its own",
            param="user",
            code="user_not_allowed",
        )
    adapter = state.resolve_model(body.model)
    request.state.adapter = body.model
    _check(body, state)
    question, history, dropped = _split(body, state)
    conversation_id, stored = body.conversation_id, None
    if conversation_id:
        stored, status = await run_in_threadpool(
            owned_conversation, state, conversation_id, principal, body.user
        )
        if status == "agent":  # a person took it over: store the message for them, generate nothing
            return await agent_handled(state, body, principal, question, conversation_id)
        if stored is not None:
            history = stored
    profile: dict[str, Any] = {}
    if body.user and state.store is not None:
        profile = await run_in_threadpool(state.store.get_profile, body.user)
    context = {**profile, **(body.user_context or {})}
    stops = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    arrived = time.monotonic()
    job = Job(
        query=question,
        adapter=adapter,
        settings=Settings(
            max_new_tokens=body.max_completion_tokens or body.max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            seed=body.seed,
            stop=stops,
        ),
        deadline=arrived + state.settings.request_timeout_s,
        loop=asyncio.get_running_loop(),
        strategy=body.strategy,
        role=body.role,
        user_context=context or None,
        history=history,
        id=f"chatcmpl-{uuid.uuid4()}",
    )
    try:
        state.engine.submit(job)
    except Overloaded as exc:
        state.metrics.rejected.labels("queue_full").inc()
        raise APIError(
            503, str(exc), code="server_busy", headers={"Retry-After": str(exc.retry_after)}
        ) from None
    turn = _Turn(state, body, principal, question, conversation_id, dropped, arrived, job)
    turn.existed = stored is not None  # erased mid-answer: the turn fails rather than start it again
    log.info("chat %s model=%s question=%s", turn.id, body.model, redact_for_log(question))
    if body.stream:
        return StreamingResponse(
            turn.stream(request), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )
    return await turn.whole(request)


class _Turn:
    """One chat request from queueing to acknowledgement."""

    def __init__(
        self,
        state: ServerState,
        body: ChatCompletionRequest,
        principal: Principal,
        question: str,
        conversation_id: str | None,
        dropped_system: bool,
        arrived: float,
        job: Job,
    ) -> None:
        self.state, self.body, self.principal, self.job = state, body, principal, job
        self.question, self.arrived = question, arrived
        self.conversation_id = conversation_id or str(uuid.uuid4())
        self.dropped_system = dropped_system
        self.id = job.id or f"chatcmpl-{uuid.uuid4()}"
        self.created = int(time.time())
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.existed = False  # the conversation was stored when the request arrived

    async def _next(self, request: Request) -> Delta | Done | Failed | None:
        """The next event; ``None`` when the client went away (the row is then cancelled)."""
        while True:
            remaining = self.job.deadline - time.monotonic() + 1.0
            if remaining <= 0:
                self.job.cancel()
                return Failed(504, "the answer took longer than serving.request_timeout_s")
            try:
                return await asyncio.wait_for(self.job.events.get(), timeout=min(remaining, _POLL_S))
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    self.job.cancel()
                    return None

    def _tick(self) -> None:
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = now
            self.state.metrics.ttft.observe(now - self.arrived)
        elif self.last_at is not None:
            self.state.metrics.itl.observe(now - self.last_at)
        self.last_at = now

    async def _commit(self, result: Result, text: str) -> None:
        await run_in_threadpool(
            commit_turn,
            self.state,
            self.conversation_id,
            self.body.user,
            self.principal,
            self.question,
            text,
            self.id,
            result,
            time.monotonic() - self.arrived,
            (self.first_at - self.arrived) if self.first_at else None,
            existed=self.existed,
        )
        m = self.state.metrics
        m.e2e.labels(self.body.model).observe(time.monotonic() - self.arrived)
        m.prompt_tokens.inc(result.prompt_tokens)
        m.generation_tokens.inc(result.generated_tokens)
        m.finished.labels(result.finish_reason).inc()
        if result.escalation:
            m.escalations.labels(str(result.escalation.get("reason", "unknown"))).inc()
        if result.guardrails.get("extractive_answer"):
            m.groundedness_fallbacks.labels("quoted").inc()
        elif result.escalation and result.escalation.get("reason") == "low_groundedness":
            m.groundedness_fallbacks.labels("handoff").inc()

    def _meta(self, result: Result) -> SupportkitMeta:
        return SupportkitMeta(
            response_id=self.id,
            conversation_id=self.conversation_id,
            strategy=result.strategy,
            role=result.role,
            adapter=result.adapter,
            prompt_version=result.prompt_version,
            intent=result.intent,
            citations=result.citations,
            escalation=result.escalation,
            groundedness=result.groundedness,
            guardrails=result.guardrails,
            client_system="ignored" if self.dropped_system else None,
            sources=sources(self.state, result.citations),
            input_truncated=result.input_truncated,
            language=result.language,
        )

    async def whole(self, request: Request) -> Any:
        while True:
            event = await self._next(request)
            if event is None:
                return JSONResponse(error_body(499, "client closed the request"), status_code=499)
            if isinstance(event, Delta):
                self._tick()
                continue
            if isinstance(event, Failed):
                raise APIError(event.status, event.message)
            result = event.result
            await self._commit(result, result.text)
            used = schemas.usage(result.prompt_tokens, result.generated_tokens)
            return schemas.completion(
                self.id,
                self.created,
                self.body.model,
                result.text,
                result.finish_reason,
                used,
                self._meta(result),
            )

    def _chunk(self, delta: Delta_ | None, finish: str | None = None, **extra: Any) -> str:
        return schemas.chunk(self.id, self.created, self.body.model, delta, finish, **extra)

    async def stream(self, request: Request) -> AsyncIterator[str]:
        include_usage = bool(self.body.stream_options and self.body.stream_options.include_usage)
        try:
            yield self._chunk(Delta_(role="assistant", content=""))
            pieces: list[str] = []
            while True:
                event = await self._next(request)
                if event is None:
                    return
                if isinstance(event, Delta):
                    self._tick()
                    pieces.append(event.text)
                    yield self._chunk(Delta_(content=event.text))
                    continue
                if isinstance(event, Failed):
                    yield schemas.sse(error_body(event.status, event.message))
                    break
                result = event.result
                try:
                    await self._commit(result, "".join(pieces))
                except APIError as exc:
                    yield schemas.sse(exc.body())
                    break
                yield self._chunk(Delta_(), result.finish_reason, meta=self._meta(result))
                if include_usage:
                    yield self._chunk(None, used=schemas.usage(result.prompt_tokens, result.generated_tokens))
                break
            yield schemas.sse("[DONE]")
        finally:
            self.job.cancel()  # a no-op after the end; stops the row when the client went away
