"""Streaming rows of a batched ``generate``: a token streamer that feeds a :class:`TextSink`, and a
queue-backed sink whose rows are read as iterators.

transformers' own streamers refuse batches larger than one. Here each row has its own token
buffer, its own end handling (a finished row stops streaming while others go on), stop texts that
are never streamed (text that could still become a stop text is held back) and incremental
detokenisation that never emits half a UTF-8 character.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from supportkit.generation.base import TextSink

_DONE = object()


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop text, and whether one was found."""
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(found)], True) if found else (text, False)


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of some stop text."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest


class RowStreamer:
    """Pass as ``streamer=`` to ``model.generate``: token ids of group row ``r`` become text deltas
    pushed to ``sink`` under index ``indices[r]``.

    Args:
        tokenizer: decodes the row's tokens (``eos_token_id`` ends a row).
        indices: the sink index of each batch row.
        sink: where text goes.
        stops: stop texts per row (the text stops before them).
    """

    def __init__(
        self, tokenizer: Any, indices: Sequence[int], sink: TextSink, stops: Sequence[Sequence[str]]
    ) -> None:
        self.tokenizer, self.indices, self.sink, self.stops = tokenizer, list(indices), sink, stops
        self.eos = tokenizer.eos_token_id
        self._tokens: list[list[int]] = [[] for _ in indices]
        self._emitted = [""] * len(indices)
        self._done = [False] * len(indices)
        self._prompt_seen = False

    # --- the BaseStreamer protocol, called by generate() -------------------------------------------
    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # the first call carries the prompt ids
            self._prompt_seen = True
            return
        for row, token in enumerate(value.reshape(-1).tolist()):
            self.add(row, int(token))

    def add(self, row: int, token: int) -> None:
        """One generated token of ``row`` (eos closes the row; a closed row ignores tokens)."""
        if self._done[row]:
            return
        if token == self.eos:
            self.finish(row)
            return
        self._tokens[row].append(token)
        self._emit(row, final=False)

    def done(self, row: int) -> bool:
        """True once ``row`` is closed (eos, a stop text, or :meth:`finish`)."""
        return self._done[row]

    def end(self) -> None:
        for row in range(len(self.indices)):
            self.finish(row)

    def finish(self, row: int) -> None:
        """Close a row (its last text is flushed); later tokens of the row are ignored."""
        if self._done[row]:
            return
        self._emit(row, final=True)
        self._done[row] = True
        self.sink.close(self.indices[row])

    # --- internals ---------------------------------------------------------------------------------
    def _emit(self, row: int, *, final: bool) -> None:
        text = self.tokenizer.decode(self._tokens[row], skip_special_tokens=True)
        if not final and text.endswith("\ufffd"):
            return  # an incomplete multi-byte character: wait for the next token
        text, stopped = cut_at_stop(text, self.stops[row])
        if not (final or stopped):
            text = text[: len(text) - _held_back(text, self.stops[row])]
        delta = text[len(self._emitted[row]) :] if text.startswith(self._emitted[row]) else ""
        if delta:
            self._emitted[row] = text
            self.sink.push(self.indices[row], delta)
        if stopped and not final:
            self._done[row] = True
            self.sink.close(self.indices[row])


class NullSink:
    """A :class:`TextSink` that drops everything (stop texts are still detected by the streamer)."""

    def push(self, index: int, delta: str) -> None:
        pass

    def close(self, index: int) -> None:
        pass

    def fail(self, error: BaseException) -> None:
        pass


class QueueSink:
    """A :class:`TextSink` with one queue per row; :meth:`iter_row` reads a row from any thread."""

    def __init__(self, rows: int, *, timeout: float | None = 600.0) -> None:
        self.timeout = timeout
        self._queues: list[queue.Queue[Any]] = [queue.Queue() for _ in range(rows)]
        self._closed = [False] * rows

    def push(self, index: int, delta: str) -> None:
        self._queues[index].put(delta)

    def close(self, index: int) -> None:
        if not self._closed[index]:
            self._closed[index] = True
            self._queues[index].put(_DONE)

    def fail(self, error: BaseException) -> None:
        """Forward an exception raised while decoding to every reader still waiting."""
        for index, q in enumerate(self._queues):
            if not self._closed[index]:
                self._closed[index] = True
                q.put(error)

    def iter_row(self, index: int) -> Iterator[str]:
        q = self._queues[index]
        while True:
            item = q.get(timeout=self.timeout)
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class TimingSink:
    """A :class:`TextSink` that keeps no text: per row, when its first text arrived and when it
    ended (``time.perf_counter()`` seconds; ``None`` until then), so a batch reports each request's
    time to first token and total latency rather than the batch's wall time.

    Args:
        rows: how many rows the batch has.
        on_close: called with a row's index as that row ends (from the decoding thread).
    """

    def __init__(self, rows: int, on_close: Callable[[int], None] | None = None) -> None:
        self.first: list[float | None] = [None] * rows
        self.closed: list[float | None] = [None] * rows
        self.on_close = on_close

    def push(self, index: int, delta: str) -> None:
        if self.first[index] is None:
            self.first[index] = time.perf_counter()

    def close(self, index: int) -> None:
        if self.closed[index] is not None:
            return
        self.closed[index] = now = time.perf_counter()
        if self.first[index] is None:  # an empty answer: its first "token" is its end
            self.first[index] = now
        if self.on_close is not None:
            self.on_close(index)

    def fail(self, error: BaseException) -> None:
        """Nothing to forward: the failure is raised by the decode call itself."""

    def seconds(self, index: int, since: float) -> tuple[float, float]:
        """(to the first token, to the end) of row ``index``, in seconds after ``since`` (a row
        never closed ends now; one that never pushed text has its first token at its end)."""
        end = self.closed[index] or time.perf_counter()
        return (self.first[index] or end) - since, end - since
