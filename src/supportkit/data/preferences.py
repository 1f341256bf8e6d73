"""Preference files for ``training.objective=dpo|kto``: read, check, and report bad rows by file and line.

One JSON object per line, in TRL's *conversational* format (what ``supportkit feedback export``
writes)::

    dpo: {"prompt": [{"role": "user", "content": "..."}, ...],
          "chosen": [{"role": "assistant", "content": "..."}],
          "rejected": [{"role": "assistant", "content": "..."}]}
    kto: {"prompt": [...], "completion": [{"role": "assistant", "content": "..."}], "label": true}

TRL's *standard* format (plain strings) is accepted too: a string ``prompt`` is one user turn, a
string answer one assistant turn. Other keys (``meta``) are ignored. The prompt's turns alternate
as a chat does and end with the user's question; an optional first ``system`` turn is kept (without
one, training adds the prompt set's system instruction when ``data.add_system_prompt``, as SFT does).
A row is refused when a text holds one of the tokenizer's special tokens (``<|im_end|>``...): it
would be read as chat markup, not as text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportkit.errors import DataError

log = logging.getLogger(__name__)

#: The keys each objective's rows need.
FIELDS = {"dpo": ("prompt", "chosen", "rejected"), "kto": ("prompt", "completion", "label")}
_ROLES = ("system", "user", "assistant")

Turns = list[dict[str, str]]


@dataclass
class PreferenceData:
    """The good rows of a preference file (conversational format) and the bad ones skipped."""

    path: str
    objective: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: ``"FILE:LINE: problem"`` for each skipped row (``data.on_error=skip``).
    skipped: list[str] = field(default_factory=list)


class _BadRow(ValueError):
    pass


def _turns(value: Any, name: str, *, answer: bool) -> Turns:
    if isinstance(value, str):
        value = [{"role": "assistant" if answer else "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise _BadRow(f"'{name}' must be a non-empty list of {{role, content}} messages or a string")
    turns = []
    for n, message in enumerate(value):
        if not isinstance(message, dict) or set(message) - {"role", "content"}:
            raise _BadRow(f"'{name}'[{n}] must be an object with only 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if role not in _ROLES:
            raise _BadRow(f"'{name}'[{n}]: role {role!r} is not one of {', '.join(_ROLES)}")
        if not isinstance(content, str) or not content.strip():
            raise _BadRow(f"'{name}'[{n}]: content must be non-empty text")
        turns.append({"role": role, "content": content})
    if answer and (len(turns) != 1 or turns[0]["role"] != "assistant"):
        raise _BadRow(f"'{name}' must be exactly one assistant message")
    return turns


def _check_prompt(turns: Turns) -> None:
    body = turns[1:] if turns[0]["role"] == "system" else turns
    if not body or body[-1]["role"] != "user":
        raise _BadRow("'prompt' must end with the user's question")
    for n, turn in enumerate(body):
        if turn["role"] != ("user" if (len(body) - n) % 2 == 1 else "assistant"):
            raise _BadRow("'prompt' turns must alternate user/assistant (an optional system turn first)")


def parse_row(obj: Any, objective: str, special_tokens: Iterable[str] = ()) -> dict[str, Any]:
    """One row checked and in conversational form; raises ``ValueError`` saying what is wrong."""
    if not isinstance(obj, dict):
        raise _BadRow(f"expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in FIELDS[objective] if k not in obj]
    if missing:
        other = "kto" if objective == "dpo" else "dpo"
        hint = (
            f" (this looks like a {other} file: set training.objective={other})"
            if all(k in obj for k in FIELDS[other])
            else ""
        )
        raise _BadRow(
            f"missing {', '.join(repr(k) for k in missing)} for training.objective={objective}{hint}"
        )
    row: dict[str, Any] = {"prompt": _turns(obj["prompt"], "prompt", answer=False)}
    _check_prompt(row["prompt"])
    if objective == "dpo":
        row["chosen"] = _turns(obj["chosen"], "chosen", answer=True)
        row["rejected"] = _turns(obj["rejected"], "rejected", answer=True)
        if row["chosen"][0]["content"].strip() == row["rejected"][0]["content"].strip():
            raise _BadRow("'chosen' and 'rejected' are the same answer")
    else:
        row["completion"] = _turns(obj["completion"], "completion", answer=True)
        if not isinstance(obj["label"], bool):
            raise _BadRow(f"'label' must be true or false, got {obj['label']!r}")
        row["label"] = obj["label"]
    texts = [t["content"] for key in FIELDS[objective][:3] if key != "label" for t in row[key]]
    for token in special_tokens:
        if token and any(token in text for text in texts):
            raise _BadRow(f"a text holds the special token {token!r}; remove it (it would be read as markup)")
    return row


def read_preferences(
    path: str | Path, objective: str, *, on_error: str = "raise", special_tokens: Iterable[str] = ()
) -> PreferenceData:
    """Read a preference file (JSON Lines) for ``objective`` (``dpo`` or ``kto``).

    Raises:
        DataError: the file is missing or empty, or (``on_error="raise"``) a row is bad; the message
            is ``FILE:LINE: problem``. With ``on_error="skip"`` bad rows are counted in ``skipped``.
    """
    if objective not in FIELDS:
        raise DataError(f"preference files are for training.objective dpo or kto, not {objective!r}")
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such preference file (write one with: supportkit feedback export)")
    specials = tuple(special_tokens)
    data = PreferenceData(str(path), objective)
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
                data.rows.append(parse_row(json.loads(line), objective, specials))
            except (ValueError, UnicodeDecodeError) as exc:
                reason = f"bad JSON: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else str(exc)
                where = f"{path}:{number}: {reason}"
                if on_error != "skip":
                    raise DataError(f"{where} (fix the row, or set data.on_error=skip)") from exc
                data.skipped.append(where)
    if data.skipped:
        log.warning("%s: %d bad rows skipped, first: %s", path, len(data.skipped), data.skipped[0])
    if not data.rows:
        raise DataError(f"{path}: no usable {objective} rows ({len(data.skipped)} bad rows skipped)")
    return data
