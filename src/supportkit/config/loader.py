"""Reading config values safely: YAML 1.2 booleans, typed sections, dotted overrides.

Values are never evaluated as code: YAML is read with a safe loader and overrides are parsed as
YAML scalars, then checked against the field's declared type.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterable
from typing import Any, TypeVar

import yaml

from supportkit.config.base import Section
from supportkit.errors import ConfigError, did_you_mean
from supportkit.utils.validation import coerce

S = TypeVar("S", bound=Section)


class _Loader(yaml.SafeLoader):
    """``safe_load`` with YAML 1.2 booleans: PyYAML's 1.1 rules read no/yes/on/off as booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    """Parse YAML text into plain Python values (raises ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: nothing is constructed


def build_section(cls: type[S], values: Any) -> S:
    """Build section ``cls`` from a mapping, coercing each value to the field's declared type.

    Raises :class:`ConfigError` for a non-mapping, an unknown field or a value of the wrong type.
    """
    section = cls.section
    if not isinstance(values, dict):
        raise ConfigError(f"config section {section!r} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown field(s) {', '.join(f'{section}.{u}' for u in unknown)}; "
            f"known: {', '.join(sorted(known))}{did_you_mean(unknown[0], known)}"
        )
    kwargs = {name: coerce(value, hints[name], f"{section}.{name}") for name, value in values.items()}
    return cls(**kwargs)


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], sections: Iterable[str]) -> None:
    """Apply ``section.field=value`` overrides to ``data`` (a config as a dict) in place.

    ``section.field.key=value`` sets one key of a mapping field (e.g. ``peft.options.r=4``).
    Raises :class:`ConfigError` naming the override for a malformed one, an unknown section or
    field, or a value that is not valid YAML.
    """
    known_sections = list(sections)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like section.field=value")
        parts = key.strip().split(".")
        if len(parts) < 2:
            raise ConfigError(f"override {item!r} must name a section and a field")
        section, name, *rest = parts
        if section not in known_sections:
            raise ConfigError(
                f"unknown config section {section!r}; known: {', '.join(known_sections)}"
                f"{did_you_mean(section, known_sections)}"
            )
        try:
            value = load_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: value is not valid YAML: {exc}") from exc
        target = data[section]
        if rest:  # e.g. peft.options.num_virtual_tokens=20 sets a key of a mapping field
            container = target.get(name)
            if not isinstance(container, dict):
                raise ConfigError(f"{section}.{name} is not a mapping; cannot set {key}")
            for part in rest[:-1]:
                container = container.setdefault(part, {})
            container[rest[-1]] = value
        else:
            if name not in target:
                fields = ", ".join(target)
                raise ConfigError(
                    f"unknown field {section}.{name}; known: {fields}{did_you_mean(name, target)}"
                )
            target[name] = value
