"""The routes around chat: models and adapters, conversations, profiles, feedback, health and metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from supportkit.errors import SupportKitError
from supportkit.serving import store_io
from supportkit.serving.errors import APIError
from supportkit.serving.schemas import (
    Conversation,
    Deleted,
    ErrorBody,
    Feedback,
    FeedbackAck,
    Health,
    JsonObject,
    LoadAdapter,
    ModelList,
    Profile,
    UnloadAdapter,
)
from supportkit.serving.state import authorize, log, state_of
from supportkit.serving.store_io import store_errors
from supportkit.store import StoreError

router = APIRouter()
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 429, 503)
}
_ID = {"max_length": 200}


@router.get("/v1/models", response_model=ModelList, responses=_ERRORS)
def list_models(request: Request) -> dict[str, Any]:
    """The base model and every served adapter (``parent``: the base)."""
    state = state_of(request)
    authorize(request, "chat")
    cards = [{"id": state.base_id, "object": "model", "created": state.created, "root": state.base_id}]
    for name, path in sorted(state.adapters.items()):
        cards.append(
            {"id": name, "object": "model", "created": state.created, "root": path, "parent": state.base_id}
        )
    return {"object": "list", "data": cards}


@router.post("/v1/load_lora_adapter", responses=_ERRORS)
def load_adapter(request: Request, body: LoadAdapter) -> dict[str, str]:
    """Load an adapter directory under a name (admin; ``serving.allow_adapter_loading``)."""
    state = state_of(request)
    authorize(request, "admin")
    if not state.settings.allow_adapter_loading:
        raise APIError(403, "adapter loading is off (serving.allow_adapter_loading=false)")
    if body.lora_name in state.adapters or body.lora_name == state.base_id:
        raise APIError(400, f"an adapter named {body.lora_name!r} is already served", param="lora_name")
    try:
        state.engine.call(lambda: state.engine.load_adapter(body.lora_name, body.lora_path))
    except (SupportKitError, OSError, ValueError) as exc:
        raise APIError(400, f"cannot load {body.lora_path!r}: {exc}", param="lora_path") from exc
    state.adapters[body.lora_name] = body.lora_path
    log.info("adapter %s loaded", body.lora_name)
    return {"status": "loaded", "lora_name": body.lora_name}


@router.post("/v1/unload_lora_adapter", responses=_ERRORS)
def unload_adapter(request: Request, body: UnloadAdapter) -> dict[str, str]:
    state = state_of(request)
    authorize(request, "admin")
    if not state.settings.allow_adapter_loading:
        raise APIError(403, "adapter loading is off (serving.allow_adapter_loading=false)")
    if body.lora_name not in state.adapters:
        raise APIError(404, f"no adapter {body.lora_name!r} is served", param="lora_name")
    state.adapters.pop(body.lora_name)
    try:
        state.engine.call(lambda: state.engine.unload_adapter(body.lora_name))
    except SupportKitError as exc:
        raise APIError(400, str(exc), param="lora_name") from exc
    return {"status": "unloaded", "lora_name": body.lora_name}


@router.get("/v1/conversations/{conversation_id}", response_model=Conversation, responses=_ERRORS)
def get_conversation(request: Request, conversation_id: str) -> dict[str, Any]:
    """A stored conversation, oldest message first (chat keys: only conversations made with that key)."""
    state = state_of(request)
    principal = authorize(request, "chat")
    conversation = store_io.load_conversation(state, conversation_id, principal)
    return store_io.conversation_body(conversation)


@router.delete("/v1/conversations/{conversation_id}", response_model=Deleted, responses=_ERRORS)
def delete_conversation(request: Request, conversation_id: str) -> dict[str, Any]:
    """Erase a conversation, its messages and their feedback (the customer's right to erasure)."""
    state = state_of(request)
    principal = authorize(request, "chat")
    store_io.load_conversation(state, conversation_id, principal)
    with store_errors():
        deleted = state.store.delete_conversation(conversation_id)
    return {"id": conversation_id, "deleted": bool(deleted)}


def _profile_store(request: Request) -> Any:
    state = state_of(request)
    authorize(request, "admin")
    if state.store is None:
        raise APIError(404, "this server keeps no profiles (start it with prompt.store_path set)")
    return state.store


@router.get("/v1/users/{user_id}/profile", response_model=Profile, responses=_ERRORS)
def get_profile(request: Request, user_id: str) -> dict[str, Any]:
    return {"user": user_id, "profile": _profile_store(request).get_profile(user_id)}


@router.put("/v1/users/{user_id}/profile", response_model=Profile, responses=_ERRORS)
def put_profile(request: Request, user_id: str, profile: Annotated[JsonObject, Body()]) -> dict[str, Any]:
    """Replace the profile with the given fields (their values fill the prompt's slots)."""
    store = _profile_store(request)
    if len(profile) > 100 or any(not isinstance(k, str) or len(k) > 100 for k in profile):
        raise APIError(400, "a profile holds at most 100 fields named by short strings")
    with store_errors():
        return {"user": user_id, "profile": store.update_profile(user_id, profile, replace=True)}


@router.delete("/v1/users/{user_id}/profile", response_model=Deleted, responses=_ERRORS)
def delete_profile(request: Request, user_id: str) -> dict[str, Any]:
    return {"id": user_id, "deleted": bool(_profile_store(request).delete_profile(user_id))}


@router.post("/v1/feedback", response_model=FeedbackAck, responses=_ERRORS)
async def feedback(request: Request, body: Feedback) -> dict[str, Any]:
    """Rate an answer by its completion ``id``: thumbs up/down, optional correction and comment."""
    state = state_of(request)
    principal = authorize(request, "chat")
    number = await run_in_threadpool(store_io.add_feedback, state, principal, body)
    state.metrics.feedback.labels(body.rating).inc()
    return {"id": number, "response_id": body.response_id, "rating": body.rating}


@router.get("/health", response_model=Health)
def health() -> dict[str, Any]:
    """Liveness: the process answers (no key needed)."""
    return {"status": "ok", "detail": {}}


@router.get("/ready", response_model=Health, responses={503: {"model": Health}, 401: {"model": ErrorBody}})
def ready(request: Request) -> Any:
    """Readiness: the model is loaded, the engine runs, the store is writable."""
    state = state_of(request)
    authorize(request, "chat")
    detail: dict[str, Any] = {"engine": state.engine.model_ready(), "store": None}
    if state.store is not None:
        try:
            state.store.check_writable()
            detail["store"] = True
        except StoreError:
            detail["store"] = False
    ok = detail["engine"] and detail["store"] is not False
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "detail": detail}, status_code=200 if ok else 503
    )


@router.get(
    "/metrics", responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **_ERRORS}
)
def metrics(request: Request) -> Response:
    """Prometheus text (admin key)."""
    state = state_of(request)
    authorize(request, "admin")
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
