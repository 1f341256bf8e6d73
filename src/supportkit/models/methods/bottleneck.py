"""Bottleneck adapters (AdapterHub ``adapters``): Pfeiffer, Houlsby, parallel. Reads ``config.adapter``."""

from __future__ import annotations

from supportkit.models.methods.base import register_method

register_method(
    "bottleneck",
    backend="adapters",
    can_merge=False,
    summary="small down/up projection MLPs inserted in every block (Pfeiffer, Houlsby, parallel); "
    "cannot be merged",
)
