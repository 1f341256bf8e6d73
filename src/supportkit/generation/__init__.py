"""Generation: the :class:`Decoder` seam, its registry, the ``hf`` engine (the one place
``model.generate`` is called) and the ``static`` step engine (continuous batching).

New engines register a factory in :data:`DECODERS` and are picked with ``generation.engine``.
"""

from supportkit.generation.base import (
    DECODERS,
    DecodeItem,
    Decoder,
    FinishReason,
    Generated,
    Sampling,
    TextSink,
    make_decoder,
)
from supportkit.generation.hf import HFDecoder, generate_chat, generate_ids, generation_kwargs
from supportkit.generation.static import StaticDecoder, gather
from supportkit.generation.stepper import BatchStepper, ContinuousDecoder, as_continuous
from supportkit.generation.streaming import QueueSink, RowStreamer, TimingSink

__all__ = [
    "DECODERS",
    "BatchStepper",
    "ContinuousDecoder",
    "DecodeItem",
    "Decoder",
    "FinishReason",
    "Generated",
    "HFDecoder",
    "QueueSink",
    "RowStreamer",
    "Sampling",
    "StaticDecoder",
    "TextSink",
    "TimingSink",
    "as_continuous",
    "gather",
    "generate_chat",
    "generate_ids",
    "generation_kwargs",
    "make_decoder",
]
