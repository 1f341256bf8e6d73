"""``supportkit train`` with a test callback that SIGKILLs the process after optimizer step N.

    python tests/integration/train_and_kill.py N section.field=value ...

A crash between two checkpoints, at an exact step; the fault lives here, not in the library.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from supportkit.config import Config
from supportkit.pipelines.callbacks import Callback
from supportkit.recipes.finetune import finetune


class KillAtStep(Callback):
    def __init__(self, step: int, signum: int = signal.SIGKILL) -> None:
        self.step = step
        self.signum = signum

    def on_step_end(self, trainer: Any, state: Any, metrics: dict[str, float]) -> None:
        if state.global_step == self.step:
            os.kill(os.getpid(), self.signum)


if __name__ == "__main__":
    step, *overrides = sys.argv[1:]
    config = Config().with_overrides(overrides)  # as `supportkit train` reads them: nothing filled in
    finetune(config, callbacks=[KillAtStep(int(step))])
