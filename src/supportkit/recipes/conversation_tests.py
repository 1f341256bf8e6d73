"""Conversation tests (like Rasa's end-to-end tests): a YAML file of conversations with
expectations per turn, checked against the assistant's responses.

File format::

    conversations:
      - name: return window              # required, unique
        strategy: knowledge              # optional: the prompt strategy for every turn
        user_id: test-42                 # optional
        user_context: {plan: Pro}        # optional: profile fields (slots) for every turn
        turns:
          - user: How long do I have to return an item?
            expect:
              cites: returns             # article id, file name or title the reply cites
              contains: "30 days"        # text or list of texts (case-insensitive)
              not_contains: ["10 days"]
              escalates: false           # true, false, or the reason (e.g. human_request)
              intent: return_request
              slot_filled: true          # a {{Slot}} placeholder was filled
              no_pii: true               # no e-mail, phone, card, IBAN, ID or key in the reply

The whole file is validated before any model loads; errors name ``file:line`` and suggest the
closest known key for a typo.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from supportkit.config.loader import _Loader
from supportkit.errors import DataError
from supportkit.guardrails.inputs import has_content
from supportkit.privacy.pii import find_pii
from supportkit.utils.textfiles import read_text

#: Expectation keys a turn may use.
EXPECTATIONS = ("cites", "contains", "not_contains", "escalates", "intent", "slot_filled", "no_pii")
CONVERSATION_KEYS = ("name", "strategy", "user_id", "user_context", "turns")
TURN_KEYS = ("user", "expect")


class _Located(dict[Any, Any]):
    """A YAML mapping that remembers the line it starts on (1-based)."""

    line: int = 0


class _LineLoader(_Loader):
    """The config's safe YAML 1.2 loader, keeping each mapping's line."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Located:
    out = _Located(loader.construct_mapping(node, deep=True))
    out.line = node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class Turn:
    user: str
    expect: dict[str, Any]
    line: int


@dataclass(frozen=True)
class ConversationTest:
    name: str
    turns: list[Turn]
    strategy: str | None = None
    user_id: str | None = None
    user_context: dict[str, Any] = field(default_factory=dict)
    line: int = 0


def _unknown(keys: Any, known: tuple[str, ...], where: str, what: str) -> None:
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DataError(f"{where}: unknown {what} {key!r}{hint} (known: {', '.join(known)})")


def _texts(value: Any, where: str, key: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise DataError(f"{where}: {key} must be a non-empty text or a list of texts, got {value!r}")
    return items


def _check_expect(expect: Any, where: str) -> dict[str, Any]:
    if not isinstance(expect, Mapping):
        raise DataError(f"{where}: 'expect' must be a mapping of {', '.join(EXPECTATIONS)}")
    _unknown(expect, EXPECTATIONS, where, "expectation")
    out = dict(expect)
    for key in ("contains", "not_contains"):
        if key in out:
            out[key] = _texts(out[key], where, key)
    for key in ("cites", "intent"):
        if key in out and not (isinstance(out[key], str) and out[key].strip()):
            raise DataError(f"{where}: {key} must be a name, got {out[key]!r}")
    escalates = out.get("escalates", False)
    if not (isinstance(escalates, bool) or (isinstance(escalates, str) and escalates.strip())):
        raise DataError(f"{where}: escalates must be true, false or a reason such as human_request")
    for key in ("slot_filled", "no_pii"):
        if key in out and not isinstance(out[key], bool):
            raise DataError(f"{where}: {key} must be true or false, got {out[key]!r}")
    return out


def load_conversation_tests(
    path: str | Path, *, strategies: Collection[str] | None = None
) -> list[ConversationTest]:
    """Read and validate a conversation-test file; ``strategies``: the known strategy names (a
    conversation's ``strategy`` is checked against them when given).

    Raises:
        DataError: unreadable file, invalid YAML, or a schema error (``file:line: what``, with the
            closest known key for an unknown one).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"conversation test file {path} does not exist")
    try:
        data = yaml.load(read_text(path), Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping) or not isinstance(data.get("conversations"), list):
        raise DataError(f"{path}: expected a top-level 'conversations:' list (see supportkit init's tests)")
    _unknown(data, ("conversations",), f"{path}:{getattr(data, 'line', 1)}", "key")
    tests: list[ConversationTest] = []
    for i, conv in enumerate(data["conversations"]):
        where = f"{path}:{getattr(conv, 'line', 0)}"
        if not isinstance(conv, Mapping):
            raise DataError(f"{path}: conversation {i + 1} must be a mapping with 'name' and 'turns'")
        _unknown(conv, CONVERSATION_KEYS, where, "conversation key")
        name = conv.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"{where}: conversation {i + 1} needs a 'name'")
        if any(t.name == name for t in tests):
            raise DataError(f"{where}: conversation name {name!r} is used twice")
        turns_raw = conv.get("turns")
        if not isinstance(turns_raw, list) or not turns_raw:
            raise DataError(f"{where}: conversation {name!r} needs a non-empty 'turns' list")
        context = conv.get("user_context") or {}
        if not isinstance(context, Mapping):
            raise DataError(f"{where}: user_context must be a mapping of profile fields")
        strategy = conv.get("strategy")
        if strategy is not None and strategies is not None and strategy not in strategies:
            _unknown([strategy], tuple(sorted(strategies)), where, "strategy")
        turns = []
        for turn in turns_raw:
            twhere = f"{path}:{getattr(turn, 'line', 0)}"
            if not isinstance(turn, Mapping):
                raise DataError(f"{where}: each turn must be a mapping with 'user' and 'expect'")
            _unknown(turn, TURN_KEYS, twhere, "turn key")
            user = turn.get("user")
            if not isinstance(user, str) or not has_content(user):
                raise DataError(
                    f"{twhere}: a turn needs the customer's message as 'user' (text, not empty or "
                    "only spaces/control characters)"
                )
            expect = _check_expect(turn.get("expect") or {}, twhere)
            turns.append(Turn(user.strip(), expect, getattr(turn, "line", 0)))
        tests.append(
            ConversationTest(
                name.strip(),
                turns,
                strategy=strategy,
                user_id=None if conv.get("user_id") is None else str(conv["user_id"]),
                user_context=dict(context),
                line=getattr(conv, "line", 0),
            )
        )
    if not tests:
        raise DataError(f"{path}: no conversations")
    return tests


def _cited_names(response: Any) -> set[str]:
    """Every name a cited article goes by: title, article id, file name, file stem (lower case)."""
    names = {c.casefold() for c in response.citations}
    for p in response.passages:
        if p.title.casefold() in names:
            article = p.id.split("#", 1)[0]
            names |= {article.casefold(), p.url.casefold(), Path(p.url).stem.casefold()}
    return names


def _cites(r: Any, want: str) -> str | None:
    if want.casefold() in _cited_names(r):
        return None
    return f"cites {want!r}: cited {r.citations or 'nothing'}"


def _contains(r: Any, want: list[str]) -> str | None:
    missing = [w for w in want if w.casefold() not in r.text.casefold()]
    return f"contains {missing}: missing" if missing else None


def _not_contains(r: Any, want: list[str]) -> str | None:
    found = [w for w in want if w.casefold() in r.text.casefold()]
    return f"not_contains {found}: present" if found else None


def _escalates(r: Any, want: bool | str) -> str | None:
    reason = (r.escalation or {}).get("reason") if r.escalate else None
    if want is False:
        return f"does not escalate: escalated ({reason})" if r.escalate else None
    if not r.escalate:
        return "escalates: answered instead"
    if isinstance(want, str) and reason != want:
        return f"escalates with {want!r}: reason was {reason!r}"
    return None


def _intent(r: Any, want: str) -> str | None:
    return None if r.intent == want else f"intent {want!r}: detected {r.intent!r}"


def _slot_filled(r: Any, want: bool) -> str | None:
    filled = bool((r.guardrails or {}).get("slots_filled")) and "{{" not in r.text
    return None if filled == want else f"slot_filled {want}: {'filled' if filled else 'not filled'}"


def _no_pii(r: Any, want: bool) -> str | None:
    found = sorted({s.kind for s in find_pii(r.text)})
    return f"no_pii: the reply contains {', '.join(found)}" if want and found else None


CHECKS: dict[str, Callable[[Any, Any], str | None]] = {
    "cites": _cites,
    "contains": _contains,
    "not_contains": _not_contains,
    "escalates": _escalates,
    "intent": _intent,
    "slot_filled": _slot_filled,
    "no_pii": _no_pii,
}


def check_turn(response: Any, expect: Mapping[str, Any]) -> list[str]:
    """The failed expectations of one turn (empty: it passed), each a short sentence."""
    return [msg for key, want in expect.items() if (msg := CHECKS[key](response, want)) is not None]
