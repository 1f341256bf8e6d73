"""Stored feedback and agents' replies as training data for ``training.objective=dpo|kto`` (TRL's
conversational format).

Shared by ``supportkit feedback export`` and the admin route ``GET /v1/feedback/export``::

    rows = export_rows(store, "dpo", redactor=Redactor(), source="all")
    count = write_rows(rows, "prefs.jsonl")

Two sources (``source``: ``all``, the default, ``feedback`` or ``agent``):

* **feedback** (``POST /v1/feedback``). ``dpo``: one pair per rated-down answer with a correction:
  ``chosen`` is the correction (the customer's or an agent's), ``rejected`` the answer that was
  rated down. ``kto``: one row per rated answer: ``label`` true for thumbs up, false for thumbs
  down; a correction is one more row labelled true.
* **agent**: what a person typed after taking the conversation over, read as the answer to the
  customer's pending question (rules in :mod:`supportkit.recipes.agent_replies`: consecutive agent
  messages are one answer; greetings, holding lines and sign-offs alone are not answers). ``dpo``:
  ``chosen`` the reply, ``rejected`` the assistant's answer to the same question, when the agent took
  over right after it. ``kto``: the reply labelled true, and that answer labelled false.

Only the model's own words are ever ``rejected`` or labelled false
(:func:`~supportkit.recipes.agent_replies.own_answer`): an escalated answer is stored as the
hand-off message, so only a hand-off decided after generation has model words, the answer it
withheld (metadata ``withheld``); an extractive answer quotes an article (``quoted``); the agent
notice a customer gets while a person has the conversation is not stored at all. A reply right
after an answer the customer rated up is a follow-up, not an answer, and makes no row. Rows are
deduplicated on their texts (whitespace aside), feedback first: a correction an agent also typed
as the reply is one row.

``prompt`` is the conversation as the model saw it at answer time, rebuilt from the store: the
``history_turns`` stored turns before the question (agent turns speak as the assistant), then the
question. It has no system turn: training adds the prompt set's system instruction as SFT does
(``data.add_system_prompt``). The rendered prompt's few-shot examples and retrieved passages are not
stored, so they are not in it; blank turns are left out, and a blank answer makes no row. Every
text is redacted with the given :class:`Redactor` (emails, phones, IBANs, cards, national IDs, keys
and tokens), whatever the store did; each row's ``meta`` holds only ids, the adapter and the intent
(feedback: ``feedback_id``, ``response_id``; agent: ``conversation_id``, the agent's
``message_ids``, the rejected answer's ``response_id``), never user ids, keys or agents' names.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from supportkit.data.preferences import FIELDS
from supportkit.pipelines.checkpoints import writing
from supportkit.privacy import Redactor
from supportkit.recipes.agent_replies import agent_answers, latest_ratings, own_answer
from supportkit.store import Message, Store
from supportkit.store.base import prompt_turns
from supportkit.utils.atomic import atomic_write_text

FORMATS = tuple(FIELDS)
#: Where rows come from: ratings and corrections (``/v1/feedback``), agents' replies after a
#: takeover, or both.
SOURCES = ("all", "feedback", "agent")
_PAGE = 500


def _conversation(store: Store, conversation_id: str, cache: dict[str, Any]) -> Any:
    if conversation_id not in cache:
        cache[conversation_id] = store.conversation(conversation_id)
    return cache[conversation_id]


def _prompt_before(messages: list[Message], stop: int, history_turns: int) -> list[dict[str, str]] | None:
    """The turns of ``messages[:stop]`` as a prompt (the last ``history_turns`` of them before the
    question, then the question); ``None`` when they do not end with the customer's question."""
    before = [
        (m.role, m.content)
        for m in messages[:stop]
        if m.role != "system" and m.content.strip()  # a blank answer says nothing
    ]
    turns = prompt_turns(before)
    question = turns[-1:] if turns and turns[-1]["role"] == "user" else []
    if not question:
        return None
    history = turns[:-1][-history_turns:] if history_turns else []
    while history and history[0]["role"] != "user":  # a prompt starts with the customer
        history = history[1:]
    merged: list[dict[str, str]] = []
    for turn in [*history, *question]:  # consecutive turns of one speaker read as one
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1] = {"role": turn["role"], "content": f"{merged[-1]['content']}\n\n{turn['content']}"}
        else:
            merged.append(turn)
    return merged


def _prompt(store: Store, record: Any, cache: dict[str, Any], history_turns: int) -> list[dict[str, str]]:
    """The turns before the rated answer (the last ``history_turns`` of them, and the question)."""
    conversation = _conversation(store, record.conversation_id, cache) if record.conversation_id else None
    messages = conversation.messages if conversation is not None else []
    stop = next((i for i, m in enumerate(messages) if m.response_id == record.response_id), len(messages))
    turns = _prompt_before(messages, stop, history_turns)
    return turns or [{"role": "user", "content": record.question}]


def _answer(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _records(store: Store, since: float | None) -> Iterator[Any]:
    offset = 0
    while True:
        page = store.list_feedback(None, since, limit=_PAGE, offset=offset)
        yield from reversed(page)  # oldest first within a page
        if len(page) < _PAGE:
            return
        offset += _PAGE


def _redacted(turns: list[dict[str, str]], redact: Redactor) -> list[dict[str, str]]:
    return [{"role": t["role"], "content": redact(t["content"])} for t in turns]


def _same(a: str, b: str) -> bool:
    return a.split() == b.split()


def _feedback_rows(
    store: Store, fmt: str, redact: Redactor, since: float | None, history_turns: int, cache: dict[str, Any]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(row, meta) for each rated answer: what its rating and correction say."""
    for record in _records(store, since):
        if not (record.question or "").strip() or not record.answer.strip():
            continue  # nothing asked or nothing answered: no row to learn from
        prompt = _redacted(_prompt(store, record, cache, history_turns), redact)
        answer, correction = redact(record.answer), redact(record.correction or "").strip()
        own_text = own_answer(record.answer, record.metadata)  # what may be rejected: the model's words
        own = answer if own_text == record.answer.strip() else redact(own_text)
        meta = {
            "feedback_id": record.id,
            "response_id": record.response_id,
            "adapter": record.metadata.get("adapter"),
            "intent": record.metadata.get("intent"),
        }
        if fmt == "dpo":
            if record.rating == "down" and correction and own and not _same(correction, own):
                yield {"prompt": prompt, "chosen": _answer(correction), "rejected": _answer(own)}, meta
            continue
        if record.rating == "up":
            yield {"prompt": prompt, "completion": _answer(answer), "label": True}, meta
        elif own:
            yield {"prompt": prompt, "completion": _answer(own), "label": False}, meta
        if correction and not _same(correction, answer):
            yield {"prompt": prompt, "completion": _answer(correction), "label": True}, meta


def _agent_rows(
    store: Store, fmt: str, redact: Redactor, since: float | None, history_turns: int, cache: dict[str, Any]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(row, meta) for each answer an agent typed after taking over (:mod:`.agent_replies`)."""
    for conversation_id in store.agent_reply_conversations(since):
        conversation = _conversation(store, conversation_id, cache)
        if conversation is None:  # erased meanwhile
            continue
        ratings = latest_ratings(store.list_feedback(conversation_id=conversation_id, limit=1_000_000))
        for found in agent_answers(conversation, ratings):
            turns = _prompt_before(conversation.messages, found.cut, history_turns)
            reply = redact(found.text).strip()
            if turns is None or not reply or (since is not None and found.written_at < since):
                continue
            prompt = _redacted(turns, redact)
            failed = ""
            if found.failed is not None:
                failed = redact(own_answer(found.failed.content, found.failed.metadata)).strip()
            failed = "" if _same(failed, reply) else failed
            source = found.failed or found.last_assistant
            source_meta = source.metadata if source is not None else {}
            meta = {
                "conversation_id": conversation_id,
                "message_ids": found.message_ids,
                "response_id": found.failed.response_id if found.failed is not None else None,
                "adapter": source_meta.get("adapter"),
                "intent": source_meta.get("intent"),
            }
            if fmt == "dpo":
                if failed:
                    yield {"prompt": prompt, "chosen": _answer(reply), "rejected": _answer(failed)}, meta
                continue
            yield {"prompt": prompt, "completion": _answer(reply), "label": True}, meta
            if failed:
                yield {"prompt": prompt, "completion": _answer(failed), "label": False}, meta


def _key(row: dict[str, Any]) -> str:
    """What makes two rows the same: every text with its whitespace collapsed."""

    def norm(value: Any) -> Any:
        if isinstance(value, str):
            return " ".join(value.split())
        if isinstance(value, list):
            return [norm(v) for v in value]
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        return value

    return json.dumps(norm(row), sort_keys=True)


def export_rows(
    store: Store,
    fmt: str,
    *,
    redactor: Redactor | None = None,
    since: float | None = None,
    history_turns: int = 6,
    source: str = "all",
) -> list[dict[str, Any]]:
    """The store's feedback (and agents' replies) as ``fmt`` rows (``dpo`` or ``kto``), deduplicated.

    Args:
        store: the conversation store the server writes.
        fmt: ``dpo`` (pairs) or ``kto`` (labelled answers).
        redactor: what every text is redacted with (default: :class:`Redactor` with its default regions).
        since: unix seconds; only feedback given, and agent replies written, at or after it.
        history_turns: stored turns before the question kept in ``prompt``.
        source: ``feedback`` (ratings and corrections), ``agent`` (replies typed after a takeover)
            or ``all`` (both: the default).

    Rows are deduplicated on prompt and answers (whitespace aside): a correction an agent both sent
    as feedback and typed as a reply is one row, with the first one's ``meta`` (feedback first).
    Raises ``ValueError`` for an unknown format or source and ``StoreError`` when the store cannot be read.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if source not in SOURCES:
        raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    redact = redactor or Redactor()
    cache: dict[str, Any] = {}
    found: list[Iterator[tuple[dict[str, Any], dict[str, Any]]]] = []
    if source in ("all", "feedback"):
        found.append(_feedback_rows(store, fmt, redact, since, history_turns, cache))
    if source in ("all", "agent"):
        found.append(_agent_rows(store, fmt, redact, since, history_turns, cache))
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for row, meta in itertools.chain(*found):
        key = _key(row)
        if key not in seen:
            seen.add(key)
            rows.append({**row, "meta": meta})
    return rows


def to_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    """Rows as JSON Lines (UTF-8 text, one object per line)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_rows(rows: list[dict[str, Any]], path: str | Path) -> int:
    """Write ``rows`` to ``path`` as JSON Lines (atomically); returns how many were written.

    Raises :class:`~supportkit.errors.WriteError` naming the path when it cannot be written.
    """
    target = Path(path)
    with writing(target):
        atomic_write_text(target, to_jsonl(rows))
    return len(rows)
