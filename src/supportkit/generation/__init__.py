"""Generation: the :class:`Decoder` seam, its registry and the ``hf`` engine (the one place
``model.generate`` is called).

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
from supportkit.generation.streaming import QueueSink, RowStreamer, TimingSink

__all__ = [
    "DECODERS",
    "DecodeItem",
    "Decoder",
    "FinishReason",
    "Generated",
    "HFDecoder",
    "QueueSink",
    "RowStreamer",
    "Sampling",
    "TextSink",
    "TimingSink",
    "generate_chat",
    "generate_ids",
    "generation_kwargs",
    "make_decoder",
]
