"""The engine: one thread owns the model; waiting requests are batched; text streams back per request.

This is the only module that calls the pipeline (``stream_batch``, adapters on its model), so a change of
the pipeline's API is adapted here and nowhere else.

* ``submit`` queues a :class:`Job` (or raises :class:`Overloaded` past ``max_queue``).
* The engine thread takes the jobs waiting when a batch starts (up to ``max_batch_size``; adapters
  and generation settings mix, the pipeline's decoder groups them), starts them as one streamed
  batch, and forwards each row's text to its job's asyncio queue as :class:`Delta` events, then one
  :class:`Done` (or :class:`Failed`).
* A job whose client went away (``job.cancel()``) or whose deadline passed is cancelled in the pipeline
  (``handle.cancel()``: its row stops decoding at the next step; the other rows go on).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supportkit.errors import ConfigError
from supportkit.pipelines.inference import RequestError
from supportkit.pipelines.response import Request

log = logging.getLogger(__name__)


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
    input_truncated: dict[str, int] | None = None
    language: dict[str, Any] | None = None


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
    #: The response id (``chatcmpl-...``), also the pipeline request's id.
    id: str | None = None
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    #: The pipeline's stream handle once the job runs.
    handle: Any = None

    def cancel(self) -> None:
        """Stop this job: its row stops decoding at the next step (the rest of the batch goes on)."""
        self.cancelled.set()
        handle = self.handle
        if handle is not None:
            handle.cancel()

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
        close = getattr(self.pipeline, "close", None)
        if callable(close):
            close()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def waiting(self) -> int:
        with self._cond:  # a re-entrant lock: submit() asks while holding it
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
                        if isinstance(item, Job):  # adapters and settings mix in one batch
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


def _request(job: Job) -> Request:
    s = job.settings
    greedy = s.temperature == 0
    return Request(
        query=job.query,
        strategy=job.strategy,
        role=job.role,
        user_context=job.user_context,
        history=list(job.history),
        adapter=job.adapter,
        id=job.id,
        max_new_tokens=s.max_new_tokens,
        do_sample=False if greedy else (True if s.temperature is not None else None),
        temperature=None if greedy else s.temperature,
        top_p=s.top_p,
        seed=s.seed,
        stop=list(s.stop) or None,
    )


def _pump(job: Job, handle: Any) -> None:
    """Forward one row's text to its job; stop the row when the job is cancelled or past its deadline."""
    job.handle = handle
    if job.cancelled.is_set():
        handle.cancel()
    try:
        for chunk in handle:
            if job.cancelled.is_set() or time.monotonic() > job.deadline:
                handle.cancel()
                if not job.cancelled.is_set():
                    job.send(Failed(504, "the answer took longer than serving.request_timeout_s"))
                for _ in handle:  # let the row wind down (its decoding stops at the next step)
                    pass
                return
            if chunk:
                job.send(Delta(chunk))
        job.send(Done(_result(handle.response)))
    except Exception as exc:
        log.warning("a streamed answer failed: %s", type(exc).__name__)
        job.send(_failure(exc))


def _result(response: Any) -> Result:
    return Result(
        text=response.text,
        finish_reason="length" if response.finish_reason == "length" else "stop",
        prompt_tokens=int(response.prompt_tokens),
        generated_tokens=int(response.generated_tokens),
        strategy=response.strategy,
        role=response.role,
        adapter=response.adapter,
        prompt_version=response.prompt_version,
        intent=response.intent,
        citations=list(response.citations or []),
        escalation=response.escalation,
        groundedness=response.groundedness,
        guardrails=dict(response.guardrails or {}),
        input_truncated=response.input_truncated,
        language=response.language,
    )


def _failure(exc: BaseException) -> Failed:
    if isinstance(exc, (RequestError, ConfigError)):
        return Failed(400, str(exc))
    return Failed(500, f"generation failed ({type(exc).__name__}); the server log has details")
