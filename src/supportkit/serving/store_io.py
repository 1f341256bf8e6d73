"""Conversations and feedback in the store, as the routes need them (run in a worker thread).

Every function raises :class:`APIError` with the right status for store failures, so a route never
turns a store problem into a 500 with a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from supportkit.serving.auth import Principal
from supportkit.serving.errors import APIError
from supportkit.serving.events import Result
from supportkit.serving.state import ServerState, log
from supportkit.store import ConflictError, InvalidRecordError, Message, NotFoundError, StoreError

#: Message metadata the API never returns: the owning key's name, the answer a hand-off withheld.
PRIVATE_META = ("api_key", "withheld")


def _store(state: ServerState) -> Any:
    if state.store is None:
        raise APIError(404, "this server keeps no conversations (start it with prompt.store_path set)")
    return state.store


@contextmanager
def store_errors() -> Iterator[None]:
    """A store failure inside becomes a 503 with Retry-After (the store is busy or unreachable); the
    details (they name the server's files) go to the log, not to the client."""
    try:
        yield
    except StoreError as exc:
        log.warning("the store is unavailable: %s", exc)
        raise APIError(503, "the store is unavailable now; retry", headers={"Retry-After": "5"}) from exc


def _said(state: ServerState, exc: StoreError) -> str:
    """What a client is told of a refused record or a conflict: the store's message without the
    database file's path."""
    path = str(getattr(state.store, "path", "") or "")
    text = str(exc)
    return text.replace(f"{path}: ", "").replace(path, "the store") if path else text


def _owner_key(conversation: Any) -> str | None:
    for message in conversation.messages:
        key = (message.metadata or {}).get("api_key")
        if key:
            return str(key)
    return None


def load_conversation(state: ServerState, conversation_id: str, principal: Principal) -> Any:
    """The stored conversation; 404 when unknown or (chat keys) made with another key."""
    with store_errors():
        conversation = _store(state).conversation(conversation_id)
    return _visible(conversation, conversation_id, principal)


def conversation_body(conversation: Any) -> dict[str, Any]:
    """A stored conversation as the API returns it (the owning key's name is never shown)."""
    return {
        "id": conversation.id,
        "user": conversation.user_id,
        "status": conversation.status,
        "escalated": conversation.escalated,
        "messages": [
            {
                "role": m.role,
                "content": m.content,
                "response_id": m.response_id,
                "meta": {k: v for k, v in (m.metadata or {}).items() if k not in PRIVATE_META} or None,
                "id": m.id,
                "created_at": m.created_at,
            }
            for m in conversation.messages
        ],
    }


def _visible(conversation: Any, conversation_id: str, principal: Principal) -> Any:
    """``conversation`` when ``principal`` may see it; 404 when unknown or another chat key's."""
    if conversation is None or (not principal.admin and _owner_key(conversation) != principal.name):
        raise APIError(404, f"no conversation {conversation_id!r}", param="conversation_id")
    return conversation


def owned_conversation(
    state: ServerState, conversation_id: str, principal: Principal, user: str | None
) -> tuple[list[dict[str, str]] | None, str | None]:
    """The stored turns to use as history and the conversation's status (``None, None``: a new
    conversation with this id; status 'agent': a person took it over, the assistant stays quiet)."""
    if state.store is None:
        return None, None
    with store_errors():
        exists = state.store.conversation(conversation_id)
    if exists is None:
        return None, None
    _visible(exists, conversation_id, principal)
    if exists.user_id and user and exists.user_id != user:
        raise APIError(
            409, f"conversation {conversation_id!r} belongs to another user", param="conversation_id"
        )
    history: list[dict[str, str]] = state.store.conversation_history(
        conversation_id, limit=state.history_turns
    )
    return history, str(exists.status)


def commit_turn(
    state: ServerState,
    conversation_id: str,
    user: str | None,
    principal: Principal,
    question: str,
    answer: str,
    response_id: str,
    result: Result,
    latency_s: float,
    ttft_s: float | None,
    *,
    existed: bool = False,
) -> None:
    """Store the question and the answer atomically (both or neither) before the answer is acknowledged.

    ``existed``: the conversation was stored when the request arrived; if it is gone now (erased
    while this answer was generated), nothing is stored and the answer fails with a 404, instead of
    the turn starting the erased conversation again."""
    if state.store is None:
        return
    meta = {
        "adapter": result.adapter,
        "strategy": result.strategy,
        "prompt_version": result.prompt_version,
        "latency_s": round(latency_s, 4),
        "ttft_s": round(ttft_s, 4) if ttft_s is not None else None,
        "prompt_tokens": result.prompt_tokens,
        "generated_tokens": result.generated_tokens,
        "finish_reason": result.finish_reason,
        "groundedness": result.groundedness,
        "intent": result.intent,
    }
    if result.escalation:
        meta["escalation"] = result.escalation.get("reason") or "escalated"
        meta["handoff"] = handoff_text(result.escalation)
        if result.withheld:
            meta["withheld"] = result.withheld  # the model's answer the hand-off replaced: never shown
    if result.guardrails.get("extractive_answer"):
        meta["quoted"] = True  # not grounded: the article's own sentences replaced the answer
    try:
        state.store.append_messages(  # one transaction: a failure leaves no empty conversation
            conversation_id,
            [
                Message("user", question, metadata={"api_key": principal.name}),
                Message("assistant", answer, response_id=response_id, metadata=meta),
            ],
            start=not existed,
            user_id=user,
        )
    except NotFoundError as exc:
        raise _deleted(conversation_id, "this answer was generated") from exc
    except ConflictError as exc:
        raise APIError(409, _said(state, exc), param="conversation_id") from exc
    except StoreError as exc:
        log.error("could not store turn %s: %s", response_id, type(exc).__name__)
        raise APIError(503, "the answer could not be stored; retry", headers={"Retry-After": "5"}) from exc


def handoff_text(escalation: dict[str, Any]) -> str:
    """The hand-off summary an agent reads (reason, intent, the customer's questions, articles)."""
    summary = escalation.get("summary") or {}
    lines = [f"Escalated: {escalation.get('reason', 'escalated')} ({escalation.get('detail', '')})"]
    if summary.get("intent"):
        lines.append(f"Intent: {summary['intent']} (confidence {summary.get('intent_confidence') or 0:.2f})")
    lines += [f"Customer asked: {q}" for q in summary.get("questions", [])]
    if summary.get("retrieved"):
        lines.append("Retrieved: " + "; ".join(str(r.get("title")) for r in summary["retrieved"]))
    lines += [str(p) for p in summary.get("profile", [])]
    return "\n".join(lines)


def _deleted(conversation_id: str, meanwhile: str) -> APIError:
    return APIError(
        404,
        f"conversation {conversation_id!r} was deleted while {meanwhile}; nothing was stored (start a "
        "new conversation)",
        param="conversation_id",
    )


def commit_customer_message(
    state: ServerState, conversation_id: str, principal: Principal, question: str
) -> int:
    """Store a customer's message on a taken-over conversation (no answer); returns its row id."""
    store = _store(state)
    try:
        ids = store.append_messages(
            conversation_id, [Message("user", question, metadata={"api_key": principal.name})]
        )
    except NotFoundError as exc:
        raise _deleted(conversation_id, "the message was sent") from exc
    except StoreError as exc:
        log.error("could not store a message for the agent: %s", type(exc).__name__)
        raise APIError(503, "the message could not be stored; retry", headers={"Retry-After": "5"}) from exc
    return int(ids[0])


def add_feedback(state: ServerState, principal: Principal, body: Any) -> int:
    store = _store(state)
    try:
        owner = store.response_owner(body.response_id)
        if owner is None:
            raise NotFoundError(body.response_id)
        conversation_id, _user = owner
        if not principal.admin and conversation_id:
            load_conversation(state, conversation_id, principal)
        return int(store.add_feedback(body.response_id, body.rating, body.correction, body.comment))
    except NotFoundError as exc:
        raise APIError(404, f"no response {body.response_id!r} to rate", param="response_id") from exc
    except InvalidRecordError as exc:
        raise APIError(400, _said(state, exc)) from exc
    except ConflictError as exc:
        raise APIError(409, _said(state, exc)) from exc
    except StoreError as exc:
        log.warning("the store is unavailable: %s", exc)
        raise APIError(503, "the store is unavailable now; retry", headers={"Retry-After": "5"}) from exc
