"""A person in the loop: take a conversation over, reply as the agent, hand it back; and the route a
customer's page waits on for new messages (the agent's reply).

* ``POST /v1/conversations/{id}/takeover`` (admin): status 'agent'; from now on the assistant does
  not answer this conversation (see :mod:`supportkit.serving.takeover`).
* ``POST /v1/conversations/{id}/agent_reply`` ``{"content"}`` (admin): stored as an 'agent' message
  (taking the conversation over first if it was not); the customer's page shows it, and the feedback
  export reads it as a chosen answer (:mod:`supportkit.recipes.agent_replies`).
* ``POST /v1/conversations/{id}/handback`` (admin): status 'assistant' (the escalation is handled);
  the assistant answers again, with the agent's turns in its history.
* ``GET /v1/conversations/{id}/events?after=ID&wait=S`` (chat: its own conversations): the messages
  stored after row ``ID`` and the status, answered as soon as there is one, or after ``S`` seconds
  (long poll, at most 30) with none.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from supportkit.serving import store_io
from supportkit.serving.errors import APIError
from supportkit.serving.schemas import AgentReply, Conversation, ErrorBody
from supportkit.serving.state import authorize, log, state_of
from supportkit.serving.store_io import store_errors
from supportkit.store import Message, NotFoundError

router = APIRouter()
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 429, 503)
}
#: How often a waiting ``events`` request looks at the store (seconds).
_POLL_S = 0.25


def _set_status(request: Request, conversation_id: str, status: str) -> dict[str, Any]:
    state = state_of(request)
    principal = authorize(request, "admin")
    store_io.load_conversation(state, conversation_id, principal)
    with store_errors():
        try:
            state.store.set_conversation_status(conversation_id, status, agent=principal.name)
        except NotFoundError as exc:  # erased meanwhile
            raise APIError(404, f"no conversation {conversation_id!r}", param="conversation_id") from exc
    log.info("conversation %s: %s by %s", conversation_id, status, principal.name)
    return store_io.conversation_body(store_io.load_conversation(state, conversation_id, principal))


@router.post("/v1/conversations/{conversation_id}/takeover", response_model=Conversation, responses=_ERRORS)
def take_over(request: Request, conversation_id: str) -> dict[str, Any]:
    """A person takes the conversation over: the assistant stops answering it (admin)."""
    return _set_status(request, conversation_id, "agent")


@router.post("/v1/conversations/{conversation_id}/handback", response_model=Conversation, responses=_ERRORS)
def hand_back(request: Request, conversation_id: str) -> dict[str, Any]:
    """Hand the conversation back to the assistant; its escalation counts as handled (admin)."""
    return _set_status(request, conversation_id, "assistant")


@router.post(
    "/v1/conversations/{conversation_id}/agent_reply", response_model=Conversation, responses=_ERRORS
)
def agent_reply(request: Request, conversation_id: str, body: AgentReply) -> dict[str, Any]:
    """Store the agent's reply as an 'agent' turn (taking the conversation over if needed; admin)."""
    state = state_of(request)
    principal = authorize(request, "admin")
    conversation = store_io.load_conversation(state, conversation_id, principal)
    with store_errors():
        if conversation.status != "agent":
            state.store.set_conversation_status(conversation_id, "agent", agent=principal.name)
        state.store.append_messages(
            conversation_id, [Message("agent", body.content, metadata={"agent": principal.name})]
        )
    return store_io.conversation_body(store_io.load_conversation(state, conversation_id, principal))


@router.get("/v1/conversations/{conversation_id}/events", response_model=Conversation, responses=_ERRORS)
async def events(
    request: Request,
    conversation_id: str,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # a row id (SQLite INTEGER)
    wait: Annotated[float, Query(ge=0, le=30)] = 20.0,
) -> dict[str, Any]:
    """New messages (row id > ``after``) and the status, as soon as there are any or after ``wait`` s."""
    state = state_of(request)
    principal = authorize(request, "chat")
    first = await run_in_threadpool(store_io.load_conversation, state, conversation_id, principal)
    status, escalated = first.status, first.escalated
    deadline = time.monotonic() + wait
    while True:
        with store_errors():
            latest = await run_in_threadpool(state.store.conversation, conversation_id, after=after)
        if latest is None:
            raise APIError(404, f"no conversation {conversation_id!r}", param="conversation_id")
        changed = latest.status != status or latest.escalated != escalated
        if latest.messages or changed or time.monotonic() >= deadline or await request.is_disconnected():
            return store_io.conversation_body(latest)
        await asyncio.sleep(_POLL_S)
