"""What every config section shares: validation on construction."""

from __future__ import annotations

import typing


class Section:
    """Shared behaviour of config sections: validate on construction.

    Subclasses are dataclasses naming their YAML key in ``section`` and checking their values in
    ``validate()`` (raising :class:`~supportkit.errors.ConfigError` that names the field).
    """

    section: typing.ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:  # pragma: no cover - overridden by every section
        raise NotImplementedError
