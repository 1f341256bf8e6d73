"""The engine: one thread owns the model; waiting requests are batched; text streams back per request.

This is the only module that calls the pipeline (``stream_batch``, adapters on its model), so a change of
the pipeline's API is adapted here and nowhere else.

* ``submit`` queues a :class:`Job` (or raises :class:`Overloaded` past ``max_queue``).
* The engine thread takes the oldest job and every waiting job with the same adapter and generation
  settings (up to ``max_batch_size``), starts them as one batched, streamed generation, and forwards each
  row's text to its job's asyncio queue as :class:`Delta` events, then one :class:`Done` (or
  :class:`Failed`).
* A job whose client went away (``job.cancel()``) or whose deadline passed stops receiving text; its row
  is stopped when the pipeline's handles offer ``cancel`` (the other rows go on).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supportkit.errors import ConfigError
from supportkit.pipelines.inference import RequestError
from supportkit.pipelines.response import Request

log = logging.getLogger(__name__)

_REQUEST_FIELDS = {f.name for f in dataclasses.fields(Request)}
#: Does the pipeline take generation settings per request? (Otherwise the engine sets them per batch.)
_PER_REQUEST_SETTINGS = "max_new_tokens" in _REQUEST_FIELDS


class Overloaded(Exception):
    """The queue is full; ``retry_after`` (seconds) is a fair guess of when a slot frees."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is busy; retry in {retry_after} s")
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
    groundedness: float | None = None
    guardrails: dict[str, int] = field(default_factory=dict)


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


@dataclass
class Job:
    """One chat request on its way through the engine; events arrive on ``events`` (an asyncio queue)."""

    query: str
    adapter: str | None
    settings: Settings
    deadline: float  # time.monotonic()
    loop: asyncio.AbstractEventLoop
    strategy: str | None = None
    role: str | None = None
    user_context: Mapping[str, Any] | None = None
    history: Sequence[Mapping[str, str]] = ()
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.cancelled.set()

    def key(self) -> tuple[Any, ...]:
        return (self.adapter, self.settings)

    def send(self, event: Event) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the client's event loop is gone
            self.cancel()


class Engine:
    """Owns ``pipeline`` (and its model) on one thread. ``start()`` before submitting; ``stop()`` at exit."""

    def __init__(
        self, pipeline: Any, *, max_batch_size: int = 8, max_queue: int = 64, request_timeout_s: float = 120.0
    ) -> None:
        self.pipeline = pipeline
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.request_timeout_s = request_timeout_s
        self._pending: deque[Job | concurrent.futures.Future[Any]] = deque()
        self._calls: dict[int, Callable[[], Any]] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.running = 0
        self._last_batch_s = 1.0
        self.batches = 0

    # --- life cycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="supportkit-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            for item in self._pending:
                if isinstance(item, Job):
                    item.send(Failed(503, "the server is shutting down; retry shortly"))
            self._pending.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def waiting(self) -> int:
        return sum(isinstance(item, Job) for item in self._pending)

    # --- requests ------------------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Queue ``job``; raises :class:`Overloaded` when ``max_queue`` jobs already wait."""
        with self._cond:
            if self._stopping:
                raise Overloaded(5)
            if self.waiting >= self.max_queue:
                raise Overloaded(max(1, math.ceil(self._last_batch_s)))
            self._pending.append(job)
            self._cond.notify()

    def call(self, fn: Callable[[], Any], timeout: float = 600.0) -> Any:
        """Run ``fn`` on the engine thread between batches (adapter changes) and return its result."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._calls[id(future)] = fn
        with self._cond:
            self._pending.appendleft(future)
            self._cond.notify()
        return future.result(timeout)

    # --- adapters (the pipeline's model) -------------------------------------------------------------
    def adapter_names(self) -> list[str]:
        return list(getattr(self.pipeline.model, "adapter_names", []))

    def load_adapter(self, name: str, path: str) -> None:
        """Load an adapter directory under ``name`` (base fingerprint and files checked by the model)."""
        model = self.pipeline.model
        if not hasattr(model, "load_adapter"):
            raise ConfigError("this model cannot load named adapters")
        previous = model.active_adapter
        model.load_adapter(path, name)
        model.set_adapter(previous)

    def unload_adapter(self, name: str) -> None:
        model = self.pipeline.model
        if model.active_adapter == name:
            raise ConfigError(f"adapter {name!r} is the base's active adapter and cannot be unloaded")
        model.delete_adapter(name)

    def model_ready(self) -> bool:
        return self.alive and getattr(self.pipeline, "model", None) is not None

    # --- the engine thread -----------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                first = self._pending.popleft()
                if isinstance(first, concurrent.futures.Future):
                    batch: list[Job] = []
                    call: concurrent.futures.Future[Any] | None = first
                else:
                    call = None
                    batch = [first]
                    keep: deque[Job | concurrent.futures.Future[Any]] = deque()
                    while self._pending and len(batch) < self.max_batch_size:
                        item = self._pending.popleft()
                        if isinstance(item, Job) and item.key() == first.key():
                            batch.append(item)
                        else:
                            keep.append(item)
                    keep.extend(self._pending)
                    self._pending = keep
            if call is not None:
                self._run_call(call)
            else:
                self._run_batch(batch)

    def _run_call(self, future: concurrent.futures.Future[Any]) -> None:
        fn = self._calls.pop(id(future))
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)

    def _run_batch(self, batch: list[Job]) -> None:
        now = time.monotonic()
        live: list[Job] = []
        for job in batch:
            if job.cancelled.is_set():
                continue
            if now > job.deadline:
                job.send(Failed(504, "the request waited past serving.request_timeout_s; retry later"))
                continue
            live.append(job)
        if not live:
            return
        began = time.perf_counter()
        self.running = len(live)
        try:
            with _batch_settings(self.pipeline, live[0].settings):
                try:
                    handles = self.pipeline.stream_batch([_request(job) for job in live])
                except Exception as exc:
                    if len(live) > 1:  # find the bad request; the others still get answered
                        for job in live:
                            self._run_batch([job])
                        return
                    live[0].send(_failure(exc))
                    return
                pumps = [
                    threading.Thread(target=_pump, args=(job, handle), name="supportkit-row", daemon=True)
                    for job, handle in zip(live, handles, strict=True)
                ]
                for pump in pumps:
                    pump.start()
                for pump in pumps:
                    pump.join()
        finally:
            self.running = 0
            self.batches += 1
            self._last_batch_s = time.perf_counter() - began


@contextlib.contextmanager
def _batch_settings(pipeline: Any, settings: Settings) -> Iterator[None]:
    """Apply a batch's generation settings when the pipeline cannot take them per request."""
    if _PER_REQUEST_SETTINGS:
        yield
        return
    original = pipeline.config.generation
    changes: dict[str, Any] = {}
    if settings.max_new_tokens is not None:
        changes["max_new_tokens"] = settings.max_new_tokens
        changes["min_new_tokens"] = min(original.min_new_tokens, settings.max_new_tokens)
    if settings.temperature is not None:
        changes["do_sample"] = settings.temperature > 0
        if settings.temperature > 0:
            changes["temperature"] = settings.temperature
    if settings.top_p is not None:
        changes["top_p"] = settings.top_p
    if settings.seed is not None:
        changes["seed"] = settings.seed
    pipeline.config.generation = dataclasses.replace(original, **changes)
    try:
        yield
    finally:
        pipeline.config.generation = original


def _request(job: Job) -> Request:
    values: dict[str, Any] = {
        "query": job.query,
        "strategy": job.strategy,
        "role": job.role,
        "user_context": job.user_context,
        "history": list(job.history),
        "adapter": job.adapter,
    }
    if _PER_REQUEST_SETTINGS:
        s = job.settings
        values.update(max_new_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p, seed=s.seed)
        if "stop" in _REQUEST_FIELDS:
            values["stop"] = list(s.stop) or None
    return Request(**{k: v for k, v in values.items() if k in _REQUEST_FIELDS})


def _pump(job: Job, handle: Any) -> None:
    """Forward one row's text to its job; cut at stop strings; stop the row when the job is cancelled."""
    stops = job.settings.stop
    hold = max((len(s) for s in stops), default=1) - 1
    text, sent = "", 0
    stopped = False
    try:
        for chunk in handle:
            if job.cancelled.is_set() or time.monotonic() > job.deadline:
                _cancel(handle)
                if not job.cancelled.is_set():
                    job.send(Failed(504, "the answer took longer than serving.request_timeout_s"))
                return
            text += chunk
            cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
            if cut >= 0:
                if cut > sent:
                    job.send(Delta(text[sent:cut]))
                stopped, text = True, text[:cut]
                _cancel(handle)
                break
            safe = len(text) - hold
            if safe > sent:
                job.send(Delta(text[sent:safe]))
                sent = safe
        if not stopped and len(text) > sent:
            job.send(Delta(text[sent:]))
        response = handle.response
        if response is None:  # cancelled before the end: nothing to finish
            job.send(Failed(500, "the answer was stopped before it finished"))
            return
        job.send(Done(_result(response, text if stopped else None)))
    except Exception as exc:
        log.warning("a streamed answer failed: %s", type(exc).__name__)
        job.send(_failure(exc))


def _cancel(handle: Any) -> None:
    cancel = getattr(handle, "cancel", None)
    if callable(cancel):
        cancel()


def _result(response: Any, stopped_text: str | None) -> Result:
    finish = getattr(response, "finish_reason", None)
    if finish not in ("stop", "length"):
        finish = "stop" if getattr(response, "finished", True) else "length"
    text = response.text
    if stopped_text is not None:
        text, finish = stopped_text, "stop"
    return Result(
        text=text,
        finish_reason=finish,
        prompt_tokens=int(response.prompt_tokens),
        generated_tokens=int(response.generated_tokens),
        strategy=response.strategy,
        role=response.role,
        adapter=response.adapter,
        prompt_version=response.prompt_version,
        intent=getattr(response, "intent", None),
        citations=list(response.citations or []),
        escalation=response.escalation,
        groundedness=response.groundedness,
        guardrails=dict(response.guardrails or {}),
    )


def _failure(exc: BaseException) -> Failed:
    if isinstance(exc, (RequestError, ConfigError)):
        return Failed(400, str(exc))
    return Failed(500, f"generation failed ({type(exc).__name__}); the server log has details")
