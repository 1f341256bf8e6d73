"""Bottleneck adapters (AdapterHub ``adapters``): Pfeiffer, Houlsby, parallel. Reads ``config.adapter``."""

from __future__ import annotations

from supportkit.models.methods.base import METHODS, MethodSpec

METHODS.add(
    "bottleneck",
    MethodSpec(
        name="bottleneck",
        backend="adapters",
        can_merge=False,
        summary="small down/up projection MLPs inserted in every block (Pfeiffer, Houlsby, "
        "parallel); cannot be merged",
    ),
)
