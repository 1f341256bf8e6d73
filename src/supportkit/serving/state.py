"""What every route needs, held once per app: the engine, the store, keys, limits, metrics, adapters."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from supportkit.config import ServingConfig
from supportkit.serving.auth import KeyRing, Principal, RateLimiter
from supportkit.serving.engine import Engine
from supportkit.serving.errors import APIError
from supportkit.serving.metrics import Metrics

log = logging.getLogger("supportkit.serving")

#: The principal of every caller when no keys are configured (loopback or ``--insecure``).
OPEN = Principal("open", "admin")


@dataclass
class ServerState:
    engine: Engine
    store: Any
    settings: ServingConfig
    keys: KeyRing
    limiter: RateLimiter
    metrics: Metrics
    #: The id clients use for the base model, and other names accepted for it.
    base_id: str
    base_aliases: frozenset[str] = frozenset()
    #: Served adapters: name -> directory.
    adapters: dict[str, str] = field(default_factory=dict)
    created: int = 0
    #: Turns the prompt may see from a stored conversation.
    history_turns: int = 6
    #: The pipeline's knowledge base (cited articles), or ``None``.
    knowledge: Any = None
    #: The public ``chat`` key the web pages use (``SUPPORTKIT_BROWSER_KEY``), or ``None``.
    browser_key: str | None = None

    def resolve_model(self, model: str) -> str | None:
        """The adapter for a ``model`` name (``None``: the base); unknown names are a 404."""
        if model == self.base_id or model in self.base_aliases:
            return None
        if model in self.adapters:
            return model
        known = ", ".join([self.base_id, *self.adapters])
        raise APIError(
            404,
            f"The model `{model}` does not exist; GET /v1/models lists the served models ({known})",
            param="model",
            code="model_not_found",
        )


def browser_origin_ok(request: Request, allowed: list[str]) -> bool:
    """The request comes from the server's own page or an allowed origin (as the browser says)."""
    origin = request.headers.get("origin")
    if origin:
        return origin == f"{request.url.scheme}://{request.headers.get('host', '')}" or origin in allowed
    return request.headers.get("sec-fetch-site") == "same-origin"


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.supportkit
    return state


def authenticate(keys: KeyRing, header: str) -> tuple[Principal, str]:
    """The principal and key of an ``Authorization`` header (:data:`OPEN` and ``""`` without keys).

    Raises:
        APIError: 401 when keys are configured and the header holds no valid ``Bearer`` key.
    """
    if not keys.enabled:
        return OPEN, ""
    kind, _, key = header.partition(" ")
    if kind.lower() != "bearer" or not key.strip():
        raise APIError(
            401, "this server needs an API key: send 'Authorization: Bearer KEY'", code="invalid_api_key"
        )
    found = keys.check(key.strip())
    if found is None:
        raise APIError(401, "the API key is not valid", code="invalid_api_key")
    return found, key


def authorize(request: Request, scope: str = "chat") -> Principal:
    """The caller's principal; 401 without a valid key, 403 with too narrow a scope, 429 past its rate.

    Without configured keys every caller is :data:`OPEN` (admin) and is rate-limited by address.
    """
    state = state_of(request)
    principal, key = authenticate(state.keys, request.headers.get("authorization", ""))
    address = f"addr:{request.client.host if request.client else '-'}"
    caller = principal.name if state.keys.enabled else address
    if state.browser_key and key and hmac.compare_digest(key.strip(), state.browser_key):
        if not browser_origin_ok(request, state.settings.cors_origins):
            raise APIError(
                403,
                "the browser key works only from this server's pages and serving.cors_origins",
                code="origin_not_allowed",
            )
        caller = f"{principal.name}@{address}"  # a public key: limited per client address
        request.state.public_key = True  # proves no identity (see chat: no ``user``)
    wait = state.limiter.hit(caller)
    if wait:
        state.metrics.rejected.labels("rate_limit").inc()
        raise APIError(
            429,
            f"rate limit ({state.settings.rate_limit}) reached; retry in {wait} s",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(wait)},
        )
    if scope == "admin" and not principal.admin:
        raise APIError(403, "this route needs an admin key", code="insufficient_scope")
    request.state.principal = principal
    return principal
