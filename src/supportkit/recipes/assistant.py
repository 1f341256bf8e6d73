"""The assistant the ``chat`` and ``ask`` commands answer with: one :class:`InferencePipeline`."""

from __future__ import annotations

from typing import Any

from supportkit.config import Config


def build_pipeline(config: Config, adapter_path: str | None = None) -> Any:
    """An :class:`~supportkit.pipelines.inference.InferencePipeline` on the configured base model, or
    on the adapter saved in ``adapter_path`` (a directory written by ``save_model``/``train``)."""
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.inference import InferencePipeline

    model = PEFTModel.from_saved(adapter_path, config) if adapter_path else PEFTModel(config)
    return InferencePipeline(model, config)
