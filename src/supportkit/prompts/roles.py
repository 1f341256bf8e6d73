"""Roles: the built-in four come from the prompt set; custom roles are added here or in config.

``ROLE_DEFINITIONS`` is the overview's customisation point and the registry at once::

    from supportkit.prompts.roles import ROLE_DEFINITIONS
    ROLE_DEFINITIONS["returns_desk"] = "a returns-desk agent who knows the 30-day policy"

Lookup order: ``config.prompt.custom_roles``, then ``ROLE_DEFINITIONS``, then the prompt set's roles.
"""

from __future__ import annotations

from collections.abc import Mapping

from supportkit.errors import UnknownNameError, did_you_mean
from supportkit.prompts.prompt_sets import PromptSet, Role

#: Custom roles: name -> description (a sentence completing "You are ...") or full instructions.
ROLE_DEFINITIONS: dict[str, str] = {}


def register_role(name: str, description: str) -> None:
    if not name.isidentifier() or not description.strip():
        raise ValueError("a role needs an identifier-like name and a non-empty description")
    ROLE_DEFINITIONS[name] = description


def role_names(prompt_set: PromptSet, custom: Mapping[str, str] | None = None) -> list[str]:
    return sorted(set(prompt_set.roles) | set(ROLE_DEFINITIONS) | set(custom or {}))


def resolve_role(name: str, prompt_set: PromptSet, custom: Mapping[str, str] | None = None) -> Role:
    for source in (custom or {}, ROLE_DEFINITIONS):
        if name in source:
            text = source[name].strip().rstrip(".")
            if text.lower().startswith("you are "):
                text = text[8:]
            return Role(name=name, description=text)
    if name in prompt_set.roles:
        return prompt_set.roles[name]
    known = role_names(prompt_set, custom)
    raise UnknownNameError(f"unknown role {name!r}; known: {', '.join(known)}{did_you_mean(name, known)}")
