"""Stop training cleanly on SIGINT/SIGTERM: finish the step, save a checkpoint, then stop.

:class:`StopSignals` only records that a signal came; the training loop checks it after every
optimizer step (all processes agree through one reduction), saves, and raises
:class:`TrainingInterrupted`, which the CLI turns into exit status 130 and a "resume with
--resume auto" hint. A second Ctrl-C while the checkpoint is written is left to the default
handler again (it interrupts at once).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from supportkit.errors import SupportKitError

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(SupportKitError):
    """Training stopped on a signal after saving a checkpoint; resume with ``--resume auto``."""

    exit_code = 130

    def __init__(self, message: str, *, step: int, checkpoint: str | None) -> None:
        super().__init__(message)
        self.step = step
        self.checkpoint = checkpoint


class StopSignals:
    """Context manager: while active (in the main thread), SIGINT/SIGTERM set :attr:`received`
    instead of killing the process. Elsewhere (a worker thread) it does nothing."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            log.warning("%s received: stopping after this step and saving a checkpoint", name)
        self.received = name
        self.restore()  # a second signal acts at once

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.restore()
