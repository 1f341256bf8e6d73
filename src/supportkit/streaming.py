"""A batch-aware streamer: every row of a batched ``generate`` gets its own text stream.

transformers' own streamers refuse batches larger than one. Here each row has its own token
buffer, its own end-of-turn handling (a finished row stops streaming while others go on) and
incremental detokenisation that never emits half a UTF-8 character.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

_DONE = object()


class BatchStreamer:
    """Pass as ``streamer=`` to ``model.generate``; read rows with :meth:`iter_row`."""

    def __init__(self, tokenizer: Any, batch_size: int, *, timeout: float | None = 600.0) -> None:
        self.tokenizer = tokenizer
        self.eos = tokenizer.eos_token_id
        self.timeout = timeout
        self._queues: list[queue.Queue[Any]] = [queue.Queue() for _ in range(batch_size)]
        self._tokens: list[list[int]] = [[] for _ in range(batch_size)]
        self._emitted = [""] * batch_size
        self._done = [False] * batch_size
        self._prompt_seen = False

    # --- the BaseStreamer protocol, called by generate() ------------------------------------------
    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # the first call carries the prompt ids
            self._prompt_seen = True
            return
        tokens = value.reshape(-1).tolist()
        for row, token in enumerate(tokens):
            if self._done[row]:
                continue
            if token == self.eos:
                self._finish(row)
                continue
            self._tokens[row].append(int(token))
            self._emit(row, final=False)

    def end(self) -> None:
        for row in range(len(self._queues)):
            if not self._done[row]:
                self._finish(row)

    def fail(self, error: BaseException) -> None:
        """Forward an exception raised by generate() to every reader."""
        for row, q in enumerate(self._queues):
            if not self._done[row]:
                self._done[row] = True
                q.put(error)

    # --- readers -----------------------------------------------------------------------------------
    def iter_row(self, row: int) -> Iterator[str]:
        q = self._queues[row]
        while True:
            item = q.get(timeout=self.timeout)
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    # --- internals ---------------------------------------------------------------------------------
    def _emit(self, row: int, *, final: bool) -> None:
        text = self.tokenizer.decode(self._tokens[row], skip_special_tokens=True)
        if not final and text.endswith("\ufffd"):
            return  # an incomplete multi-byte character: wait for the next token
        delta = text[len(self._emitted[row]) :]
        if delta:
            self._emitted[row] = text
            self._queues[row].put(delta)

    def _finish(self, row: int) -> None:
        self._emit(row, final=True)
        self._done[row] = True
        self._queues[row].put(_DONE)
