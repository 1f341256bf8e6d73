"""``create_app``: the FastAPI application around one pipeline, one store and the serving settings.

    app = create_app(pipeline, store, config.serving, base_id="smollm2-135m-instruct")
    uvicorn.run(app, host="127.0.0.1", port=8000)

The engine thread starts with the app (lifespan) and stops with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supportkit import __version__
from supportkit.config import ServingConfig
from supportkit.serving import admin, agent, chat, dashboard, errors, support, web
from supportkit.serving.auth import KeyRing, RateLimiter, browser_key, load_keyring
from supportkit.serving.engine import Engine
from supportkit.serving.metrics import Metrics
from supportkit.serving.state import ServerState, authenticate


def create_app(
    pipeline: Any,
    store: Any,
    settings: ServingConfig,
    *,
    base_id: str,
    base_aliases: Iterable[str] = (),
    keys: KeyRing | None = None,
    history_turns: int = 6,
) -> FastAPI:
    """The server application.

    Args:
        pipeline: an ``InferencePipeline`` (its model must already hold ``settings.adapters``, see
            :func:`supportkit.serving.build.build_server`); owned by the engine thread from now on.
        store: a ``supportkit.store.Store`` for conversations, profiles and feedback, or ``None``.
        settings: the ``serving`` config section.
        base_id: the ``model`` name of the base model (``GET /v1/models``); ``base_aliases`` also select it.
        keys: API keys (default: ``SUPPORTKIT_API_KEYS`` and ``settings.api_keys_file``).
    """
    engine = Engine(
        pipeline,
        max_batch_size=settings.max_batch_size,
        max_queue=settings.max_queue,
        request_timeout_s=settings.request_timeout_s,
    )
    keys = keys if keys is not None else load_keyring(settings.api_keys_file)
    state = ServerState(
        engine=engine,
        store=store,
        settings=settings,
        keys=keys,
        limiter=RateLimiter(settings.rate_limit),
        metrics=Metrics(
            waiting=lambda: engine.waiting,
            running=lambda: engine.running,
            prefix_cache=lambda: getattr(engine.decoder, "prefix_cache", None),
        ),
        base_id=base_id,
        base_aliases=frozenset(base_aliases),
        adapters=dict(settings.adapters),
        created=int(time.time()),
        history_turns=history_turns,
        knowledge=getattr(pipeline, "knowledge", None),
        browser_key=browser_key(keys),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        engine.start()
        try:
            yield
        finally:
            engine.stop()

    app = FastAPI(
        title="supportkit",
        version=__version__,
        summary="An OpenAI-compatible customer-support assistant",
        lifespan=lifespan,
    )
    app.state.supportkit = state
    errors.install(app)
    app.include_router(chat.router)
    app.include_router(support.router)
    app.include_router(admin.router)
    app.include_router(agent.router)
    app.include_router(dashboard.router)
    app.include_router(web.router)
    if settings.web_pages:
        web.install_pages(app)
    public = PUBLIC_PATHS | (web.PAGE_PATHS if settings.web_pages else frozenset())
    app.add_middleware(  # inside CORS: preflights pass
        RequireKey, state=state, public=public, failures=RateLimiter(settings.auth_failure_limit)
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    return app


#: What answers without a key: liveness and the chat page's start-up settings (``web.PAGE_PATHS``,
#: the pages' own files, too when ``serving.web_pages``). Everything else, ``/openapi.json``,
#: ``/docs`` and ``/redoc`` included, needs a key once keys are configured.
PUBLIC_PATHS = frozenset({"/health", "/chat-config.json"})


class RequireKey:
    """401 for a request without a valid key to any path but ``public`` ones (exact paths, or
    prefixes written ``/static/*``), before its body is read or validated: a route that forgets
    :func:`~supportkit.serving.state.authorize` is still closed. Scopes and rate limits stay the
    routes' (``authorize``)."""

    def __init__(
        self, app: ASGIApp, state: ServerState, public: frozenset[str], failures: RateLimiter
    ) -> None:
        self.app, self.state, self.failures = app, state, failures
        #: address -> (its lock, requests holding or waiting for it): wrong keys are checked in turn
        self.checking: dict[str, tuple[asyncio.Lock, int]] = {}
        self.exact = frozenset(p for p in public if not p.endswith("*"))
        self.prefixes = tuple(p.rstrip("*") for p in public if p.endswith("*"))

    async def _check(self, scope: Scope) -> None:
        """A key never seen is checked (salted hashes: slow on purpose) off the event loop, and only
        while its address is under ``serving.auth_failure_limit``. Raises: APIError (401, 429)."""
        keys, header = self.state.keys, Headers(scope=scope).get("authorization", "")
        key = header.partition(" ")[2]
        if not keys.enabled or not key.strip() or keys.known(key.strip()) is not None:
            authenticate(keys, header)  # cheap: no key, or a known one
            return
        address = scope["client"][0] if scope.get("client") else "-"
        # one check at a time per address: concurrent guesses all passed the limit before any failure
        # was counted (and each took a worker thread for its hashes)
        lock, users = self.checking.get(address) or (asyncio.Lock(), 0)
        self.checking[address] = (lock, users + 1)
        try:
            async with lock:
                wait = self.failures.waiting(address)
                if wait:
                    raise errors.APIError(
                        429,
                        f"too many requests with a wrong API key from this address; retry in {wait} s",
                        code="rate_limit_exceeded",
                        headers={"Retry-After": str(wait)},
                    )
                try:
                    await run_in_threadpool(authenticate, keys, header)
                except errors.APIError:
                    self.failures.hit(address)
                    raise
        finally:
            lock, users = self.checking[address]
            if users <= 1:
                del self.checking[address]
            else:
                self.checking[address] = (lock, users - 1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path not in self.exact and not path.startswith(self.prefixes):
            try:
                await self._check(scope)
            except errors.APIError as exc:
                response = errors.error_response(exc.status, exc.message, code=exc.code, headers=exc.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """413 for a request body over ``max_bytes`` (declared length, or counted as it arrives)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"the request body is larger than {self.max_bytes} bytes (serving.max_body_bytes)"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = errors.error_response(413, message)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            item = await receive()
            if item["type"] == "http.request":
                received += len(item.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, message)
            return item

        await self.app(scope, limited, send)


class RequestMetrics:
    """Counts every HTTP request by route template, status and adapter (``model``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            adapter = str(scope.get("state", {}).get("adapter", ""))
            self.metrics.requests.labels(template, str(status), adapter).inc()
