"""A conversation a person has taken over (status 'agent'): the assistant stays quiet.

A customer's message on such a conversation is stored (for the agent, who sees it in the console)
and answered with ``serving.agent_notice`` instead of a generated answer: whole or streamed, in the
usual OpenAI shape, with ``supportkit.handled_by = "agent"``. Nothing is generated, so there is no
answer to rate (the notice is not stored). The agent's reply arrives as an 'agent' message of the
conversation (``GET /v1/conversations/{id}/events``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from supportkit.serving import schemas
from supportkit.serving.auth import Principal
from supportkit.serving.schemas import ChatCompletionRequest, Delta, SupportkitMeta
from supportkit.serving.state import ServerState
from supportkit.serving.store_io import commit_customer_message


async def agent_handled(
    state: ServerState,
    body: ChatCompletionRequest,
    principal: Principal,
    question: str,
    conversation_id: str,
) -> Any:
    """Store the customer's message and answer with the notice (JSON, or SSE when ``body.stream``)."""
    await run_in_threadpool(commit_customer_message, state, conversation_id, principal, question)
    rid, created, notice = f"chatcmpl-{uuid.uuid4()}", int(time.time()), state.settings.agent_notice
    meta = SupportkitMeta(response_id=rid, conversation_id=conversation_id, handled_by="agent")
    used = schemas.usage(0, 0)
    if not body.stream:
        return schemas.completion(rid, created, body.model, notice, "stop", used, meta)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    async def events() -> AsyncIterator[str]:
        yield schemas.chunk(rid, created, body.model, Delta(role="assistant", content=""))
        yield schemas.chunk(rid, created, body.model, Delta(content=notice))
        yield schemas.chunk(rid, created, body.model, Delta(), "stop", meta=meta)
        if include_usage:
            yield schemas.chunk(rid, created, body.model, None, used=used)
        yield schemas.sse("[DONE]")

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
