"""The assistant the ``chat`` and ``ask`` commands answer with: one :class:`InferencePipeline`."""

from __future__ import annotations

import logging
from typing import Any

from supportkit.config import Config

log = logging.getLogger(__name__)


def choose_engine(config: Config, model: Any, engine: str) -> None:
    """Set ``config.generation.engine`` to ``engine``; ``static`` falls back to ``hf`` with a warning
    when it cannot run ``model`` (e.g. bottleneck adapters), so ``serve`` and ``chat`` always start."""
    from supportkit.generation.slots import unsupported

    config.generation.engine = engine
    if engine == "static":
        why = unsupported(model.model)
        if why is not None:
            log.warning("the static decode engine cannot run this model (%s); using hf", why)
            config.generation.engine = "hf"


def serving_precision(config: Config) -> None:
    """Load the model in ``serving.dtype`` (``serve``, ``chat``, ``ask``): it replaces ``model.dtype``
    while that is the default float32; another ``model.dtype`` (set on purpose) is kept, with a
    warning. ``serving.dtype: null`` always keeps ``model.dtype``. Training and evaluation keep it."""
    wanted, current = config.serving.dtype, config.model.dtype
    if wanted is None or wanted == current:
        return
    if current != "float32":
        log.warning("model.dtype %s kept (serving.dtype %s applies only over float32)", current, wanted)
        return
    log.info("serving.dtype %s replaces model.dtype float32", wanted)
    config.model.dtype = wanted


def build_pipeline(config: Config, adapter_path: str | None = None, *, engine: str | None = None) -> Any:
    """An :class:`~supportkit.pipelines.inference.InferencePipeline` on the configured base model, or
    on the adapter saved in ``adapter_path`` (a directory written by ``save_model``/``train``).

    ``engine``: the decode engine to use instead of ``generation.engine`` (see :func:`choose_engine`)."""
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.inference import InferencePipeline

    model = PEFTModel.from_saved(adapter_path, config) if adapter_path else PEFTModel(config)
    if engine is not None:
        choose_engine(config, model, engine)
    return InferencePipeline(model, config)
