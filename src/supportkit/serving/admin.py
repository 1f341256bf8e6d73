"""Operator routes (admin keys): every conversation (escalated first) and the feedback export."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from supportkit.serving.errors import APIError
from supportkit.serving.schemas import ConversationList, ErrorBody, FeedbackList
from supportkit.serving.state import authorize, state_of
from supportkit.serving.store_io import PRIVATE_META, store_errors

router = APIRouter()
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 429, 503)
}
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def _store(request: Request) -> Any:
    state = state_of(request)
    authorize(request, "admin")
    if state.store is None:
        raise APIError(404, "this server keeps no conversations (start it with prompt.store_path set)")
    return state.store


@router.get("/v1/conversations", response_model=ConversationList, responses=_ERRORS)
def list_conversations(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    since: Annotated[float | None, Query(ge=0, le=1e11)] = None,
    user: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Conversations, those needing a person first, then most recently updated (``since``: unix s)."""
    store = _store(request)
    with store_errors():
        rows = store.list_conversations(limit, offset, since=since, user_id=user)
    return {
        "object": "list",
        "data": [
            {
                "id": c.id,
                "user": c.user_id,
                "status": c.status,
                "escalated": c.escalated,
                "created_at": c.created_at,
                "updated_at": c.updated_at,
                "message_count": c.message_count,
                "agent": c.agent,
                "reason": (c.escalation or {}).get("escalation"),
                "handoff": (c.escalation or {}).get("handoff"),
            }
            for c in rows
        ],
    }


@router.get("/v1/feedback", response_model=FeedbackList, responses=_ERRORS)
def list_feedback(
    request: Request,
    rating: Literal["up", "down"] | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    since: Annotated[float | None, Query(ge=0, le=1e11)] = None,
    adapter: Annotated[str | None, Query(max_length=100)] = None,
    intent: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Ratings newest first, each with the question, the rated answer and its metadata
    (``adapter``: only answers by that adapter, ``""`` for the base; ``intent``: only that intent)."""
    store = _store(request)
    with store_errors():
        rows = store.list_feedback(rating, since, limit=limit, offset=offset, adapter=adapter, intent=intent)
    return {
        "object": "list",
        "data": [
            {
                "id": f.id,
                "response_id": f.response_id,
                "rating": f.rating,
                "correction": f.correction,
                "comment": f.comment,
                "created_at": f.created_at,
                "question": f.question,
                "answer": f.answer,
                "conversation_id": f.conversation_id,
                "user": f.user_id,
                "meta": {k: v for k, v in (f.metadata or {}).items() if k not in PRIVATE_META},
            }
            for f in rows
        ],
    }


@router.get(
    "/v1/feedback/export",
    responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}, **_ERRORS},
)
def export_feedback(
    request: Request,
    format: Literal["dpo", "kto"],
    since: Annotated[float | None, Query(ge=0, le=1e11)] = None,
    source: Literal["all", "feedback", "agent"] = "all",
) -> Response:
    """Rated answers and agents' replies after a takeover (``source``: ``all``, ``feedback`` or
    ``agent``) as training data, JSON Lines: ``dpo`` pairs or ``kto`` labels (PII redacted).

    The same rows as ``supportkit feedback export`` (:mod:`supportkit.recipes.feedback_export`).
    """
    from supportkit.privacy import Redactor
    from supportkit.recipes.feedback_export import export_rows, to_jsonl

    store, state = _store(request), state_of(request)
    config = getattr(getattr(state.engine, "pipeline", None), "config", None)  # guardrails.pii_regions
    redactor = Redactor.from_settings(config.guardrails) if config is not None else Redactor()
    with store_errors():
        rows = export_rows(
            store, format, redactor=redactor, since=since, history_turns=state.history_turns, source=source
        )
    return Response(
        to_jsonl(rows),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="feedback-{format}.jsonl"'},
    )
