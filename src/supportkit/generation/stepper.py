"""The continuous decode API every serving loop uses, and a shim giving it to batch-only engines.

:class:`ContinuousDecoder` is what the server's engine thread drives: rows are added from any
thread and ``step()`` advances them. The ``static`` engine implements it natively (rows join at the
next token); :func:`as_continuous` wraps any other :class:`~supportkit.generation.base.Decoder`
(e.g. ``hf``) so that each ``step()`` decodes the rows waiting at that moment as one whole batch
(static batching: a row that arrives meanwhile waits for that batch to end).
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from typing import Any, Protocol, runtime_checkable

from supportkit.generation.base import DecodeItem, Decoder, Generated, TextSink
from supportkit.generation.streaming import NullSink


@runtime_checkable
class ContinuousDecoder(Protocol):
    """Rows join and leave a running batch.

    ``add`` (any thread) queues a row and returns a future of its :class:`Generated`; its text goes to
    ``sink`` under ``index``. ``step`` (one thread) advances every row; ``busy`` is true while rows
    run or wait. A row ends early when its ``item.cancel`` flag is set.
    """

    def add(self, item: DecodeItem, sink: TextSink | None = None, index: int = 0) -> Future[Generated]: ...

    def step(self) -> None: ...

    @property
    def busy(self) -> bool: ...

    @property
    def running(self) -> int: ...


class _Fanout:
    """A TextSink for one batch whose rows belong to different sinks."""

    def __init__(self, targets: list[tuple[TextSink, int]]) -> None:
        self.targets = targets

    def push(self, index: int, delta: str) -> None:
        sink, row = self.targets[index]
        sink.push(row, delta)

    def close(self, index: int) -> None:
        sink, row = self.targets[index]
        sink.close(row)

    def fail(self, error: BaseException) -> None:
        for sink in {id(s): s for s, _ in self.targets}.values():
            sink.fail(error)


class BatchStepper:
    """:class:`ContinuousDecoder` over a batch-only decoder: each ``step`` is one whole ``generate``.

    Args:
        decoder: the engine (its ``generate`` groups rows by adapter and settings).
        batch_size: most rows per step.
    """

    def __init__(self, decoder: Decoder, batch_size: int = 8) -> None:
        self.decoder, self.batch_size = decoder, batch_size
        self._waiting: deque[tuple[DecodeItem, TextSink | None, int, Future[Generated]]] = deque()
        self._lock = threading.Lock()
        self._running = 0

    def add(self, item: DecodeItem, sink: TextSink | None = None, index: int = 0) -> Future[Generated]:
        future: Future[Generated] = Future()
        with self._lock:
            self._waiting.append((item, sink, index, future))
        return future

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._waiting) or self._running > 0

    @property
    def running(self) -> int:
        return self._running

    def step(self) -> None:
        with self._lock:
            batch = [self._waiting.popleft() for _ in range(min(self.batch_size, len(self._waiting)))]
            self._running = len(batch)
        if not batch:
            return
        sink = _Fanout([(s, i) if s is not None else (NullSink(), 0) for _, s, i, _ in batch])
        try:
            outs = self.decoder.generate([item for item, *_ in batch], sink)
        except BaseException as exc:
            for *_, future in batch:
                future.set_exception(exc)
            raise
        finally:
            self._running = 0
        for (*_, future), out in zip(batch, outs, strict=True):
            future.set_result(out)


def as_continuous(decoder: Any, batch_size: int = 8) -> ContinuousDecoder:
    """``decoder`` itself when it is continuous (``static``), else a :class:`BatchStepper` around it."""
    if isinstance(decoder, ContinuousDecoder):
        return decoder
    return BatchStepper(decoder, batch_size)
