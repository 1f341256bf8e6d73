"""Hooks into training: custom loss, logging, evaluation, without copying the loop.

Subclass :class:`Callback` and pass instances to ``TrainingPipeline(model, config, callbacks=[...])``.
Every hook is optional.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from supportkit.pipelines.checkpoints import TrainerState
    from supportkit.pipelines.training import TrainingPipeline, TrainingSummary


class Callback:
    """Hooks into :class:`TrainingPipeline` (subclass and override the ones you need; every
    default does nothing).

    Each hook receives the trainer and its :class:`TrainerState` (``global_step``, ``epoch``,
    best metric, ...). Hooks are called in the order the callbacks were given, on every training
    process (``on_save`` on the main process only); nothing catches their exceptions, so one
    raised by a hook propagates out of ``train()``. ``compute_loss`` may replace the built-in
    loss; ``on_evaluate`` may add metrics.

    Example::

        class PrintLoss(Callback):
            def on_step_end(self, trainer, state, metrics):
                print(state.global_step, metrics["loss"])

        TrainingPipeline(model, config, callbacks=[PrintLoss()]).train(data)
    """

    def on_train_begin(self, trainer: TrainingPipeline, state: TrainerState) -> None:
        """Called once, after a resume has been applied."""

    def compute_loss(
        self, trainer: TrainingPipeline, module: Any, batch: dict[str, Any]
    ) -> tuple[Any, int] | None:
        """Return ``(summed loss, target tokens)`` to replace the built-in loss, or ``None``.

        The loop divides by the target tokens of the whole accumulation window itself, so a custom
        loss must be a *sum* over tokens for accumulation to stay exact.
        """
        return None

    def on_step_end(self, trainer: TrainingPipeline, state: TrainerState, metrics: dict[str, float]) -> None:
        """After each optimizer step; ``metrics`` has loss, learning_rate, tokens_per_s."""

    def on_evaluate(
        self, trainer: TrainingPipeline, state: TrainerState, metrics: dict[str, float]
    ) -> dict[str, float] | None:
        """After each evaluation; return extra metrics to record (they are logged too)."""
        return None

    def on_save(self, trainer: TrainingPipeline, state: TrainerState, path: Any) -> None:
        """After a checkpoint has been written."""

    def on_train_end(self, trainer: TrainingPipeline, summary: TrainingSummary) -> None:
        """Once, with the final summary."""
