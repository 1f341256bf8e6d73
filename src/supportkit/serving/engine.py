"""The engine: one thread owns the model and steps a running batch; requests join it; text streams back.

This is the only module that calls the pipeline (``stream_batch``, adapters on its model), so a change of
the pipeline's API is adapted here and nowhere else.

* ``submit`` queues a :class:`Job` (or raises :class:`Overloaded` past ``max_queue``).
* Continuous batching: the engine thread admits waiting jobs while fewer than ``max_batch_size`` run.
  Each admitted job is prepared on its own thread by the pipeline (``stream_batch`` with
  ``decode=``: the pipeline's prepare stage, stream guard and finish stage stay its own); its row
  then joins the running batch at the next decode step (``static`` engine; other engines are driven
  one whole batch per step, see :mod:`supportkit.generation.stepper`). Adapters and generation
  settings mix in one batch. Text goes to the job's asyncio queue as :class:`Delta` events, then one
  :class:`Done` (or :class:`Failed`).
* A job whose client went away (``job.cancel()``) or whose deadline passed is cancelled in the pipeline
  (``handle.cancel()``: its row leaves the batch at the next step; the other rows go on) and its slot
  is free for the next waiting job at once.
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
from supportkit.generation import as_continuous, gather
from supportkit.pipelines.inference import RequestError
from supportkit.pipelines.response import Request
from supportkit.serving.events import Delta, Done, Event, Failed, Overloaded, Result, Settings

log = logging.getLogger(__name__)


@dataclass(eq=False)
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
    #: Set by the engine when the job's deadline passed while it ran.
    timed_out: bool = False

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
    """Owns ``pipeline`` (and its model) on one thread. ``start()`` before submitting; ``stop()`` at exit.

    Counters read by metrics and tests: ``running`` (requests admitted and not finished), ``waiting``
    (queued, not admitted), ``batches`` (running batches started from idle: requests that join a
    running batch do not start one), ``joins`` (requests that joined a running batch).
    """

    def __init__(
        self, pipeline: Any, *, max_batch_size: int = 8, max_queue: int = 64, request_timeout_s: float = 120.0
    ) -> None:
        self.pipeline = pipeline
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.request_timeout_s = request_timeout_s
        self.decoder = as_continuous(pipeline.decoder, max_batch_size)
        self._pending: deque[Job | concurrent.futures.Future[Any]] = deque()
        self._calls: dict[int, Callable[[], Any]] = {}
        self._active: set[Job] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_job_s = 1.0
        self.batches = 0
        self.joins = 0

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
            for job in list(self._active):  # their clients get the error now, not at their deadline
                job.send(Failed(503, "the server is shutting down; retry shortly"))
                job.cancel()
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

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._active)

    # --- requests ------------------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Queue ``job``; raises :class:`Overloaded` when ``max_queue`` jobs already wait."""
        with self._cond:
            if self._stopping:
                raise Overloaded(5)
            if self.waiting >= self.max_queue:
                raise Overloaded(max(1, math.ceil(self._last_job_s)))
            self._pending.append(job)
            self._cond.notify()

    def call(self, fn: Callable[[], Any], timeout: float = 600.0) -> Any:
        """Run ``fn`` on the engine thread at the next step boundary (adapter changes); return its result."""
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
        with self._cond:
            busy = sum(job.adapter == name for job in self._active)
        if busy:  # its rows are in the running batch
            raise ConfigError(f"adapter {name!r} is answering {busy} request(s); unload it when they end")
        model.delete_adapter(name)

    def model_ready(self) -> bool:
        return self.alive and getattr(self.pipeline, "model", None) is not None

    # --- the engine thread -----------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while (
                    not (self._pending and self._admissible())
                    and not self.decoder.busy
                    and not self._stopping
                ):
                    self._cond.wait()
                if self._stopping:
                    break
                calls, jobs = self._take()
            for call in calls:
                self._run_call(call)
            for job in jobs:
                threading.Thread(target=self._serve, args=(job,), name="supportkit-row", daemon=True).start()
            if self.decoder.busy:
                self._expire()
                try:
                    self.decoder.step()
                except Exception as exc:  # every row of the step has failed with it (its sink says so)
                    log.warning("a decode step failed: %s", type(exc).__name__)
        self._wind_down()

    def _wind_down(self, limit_s: float = 5.0) -> None:
        """At stop: the running jobs were cancelled; stepping ends their rows (a row whose job had no
        handle yet is cancelled when its thread gets one), so their threads end now, not at their
        deadline. Gives up after ``limit_s`` seconds."""
        until = time.monotonic() + limit_s
        while self.decoder.busy and time.monotonic() < until:
            try:
                self.decoder.step()
            except Exception as exc:
                log.warning("a decode step failed while stopping: %s", type(exc).__name__)
                return

    def _admissible(self) -> bool:
        first = self._pending[0]
        return isinstance(first, concurrent.futures.Future) or len(self._active) < self.max_batch_size

    def _take(self) -> tuple[list[concurrent.futures.Future[Any]], list[Job]]:
        """Calls, then as many waiting jobs as free slots allow (expired ones end with 504)."""
        calls = [f for f in self._pending if isinstance(f, concurrent.futures.Future)]
        waiting = deque(job for job in self._pending if isinstance(job, Job))
        jobs: list[Job] = []
        now = time.monotonic()
        while waiting and len(self._active) < self.max_batch_size:
            job = waiting.popleft()
            if job.cancelled.is_set():
                continue
            if now > job.deadline:
                job.send(Failed(504, "the request waited past serving.request_timeout_s; retry later"))
                continue
            if self._active or self.decoder.busy:
                self.joins += 1
            else:
                self.batches += 1
            self._active.add(job)
            jobs.append(job)
        self._pending = deque(waiting)
        return calls, jobs

    def _expire(self) -> None:
        """Cancel running rows past their deadline (their stream ends with 504)."""
        now = time.monotonic()
        with self._cond:
            late = [job for job in self._active if now > job.deadline and not job.timed_out]
        for job in late:
            job.timed_out = True
            job.cancel()

    def _join(self, items: list[Any], sink: Any) -> concurrent.futures.Future[Any]:
        """The pipeline's decode stage for served requests: the rows join the running batch."""
        with self._cond:
            if self._stopping:  # no step will run again: fail now rather than wait for the deadline
                raise Overloaded(5, "the server is shutting down; retry shortly")
            futures = [self.decoder.add(item, sink, i) for i, item in enumerate(items)]
            self._cond.notify()
        return gather(futures)

    def _serve(self, job: Job) -> None:
        """Prepare, decode (rows join the running batch) and stream one job (its own thread)."""
        began = time.perf_counter()
        try:
            try:
                [handle] = self.pipeline.stream_batch([_request(job)], decode=self._join)
            except Exception as exc:
                job.send(_failure(exc))
                return
            _pump(job, handle)
        finally:
            with self._cond:
                self._active.discard(job)
                self._last_job_s = time.perf_counter() - began
                self._cond.notify()

    def _run_call(self, future: concurrent.futures.Future[Any]) -> None:
        fn = self._calls.pop(id(future))
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)


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
    late = Failed(504, "the answer took longer than serving.request_timeout_s")
    try:
        for chunk in handle:
            if job.cancelled.is_set() or time.monotonic() > job.deadline:
                handle.cancel()
                if not job.cancelled.is_set() or job.timed_out:
                    job.send(late)
                for _ in handle:  # let the row wind down (its decoding stops at the next step)
                    pass
                return
            if chunk:
                job.send(Delta(chunk))
        job.send(late if job.timed_out else Done(_result(handle.response)))
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
        withheld=response.withheld,
        groundedness=response.groundedness,
        guardrails=dict(response.guardrails or {}),
        input_truncated=response.input_truncated,
        language=response.language,
    )


def _failure(exc: BaseException) -> Failed:
    if isinstance(exc, Overloaded):
        return Failed(503, str(exc))
    if isinstance(exc, (RequestError, ConfigError)):
        return Failed(400, str(exc))
    return Failed(500, f"generation failed ({type(exc).__name__}); the server log has details")
