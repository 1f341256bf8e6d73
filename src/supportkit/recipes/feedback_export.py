"""Stored feedback as training data for ``training.objective=dpo|kto`` (TRL's conversational format).

Shared by ``supportkit feedback export`` and the admin route ``GET /v1/feedback/export``::

    rows = export_rows(store, "dpo", redactor=Redactor())
    count = write_rows(rows, "prefs.jsonl")

* ``dpo``: one pair per rated-down answer with a correction: ``chosen`` is the correction (the
  customer's or an agent's), ``rejected`` the answer that was rated down.
* ``kto``: one row per rated answer: ``label`` true for thumbs up, false for thumbs down; a
  correction is one more row labelled true.

``prompt`` is the conversation as the model saw it at answer time, rebuilt from the store: the
``history_turns`` stored turns before the question (agent turns speak as the assistant), then the
question. It has no system turn: training adds the prompt set's system instruction as SFT does
(``data.add_system_prompt``). The rendered prompt's few-shot examples and retrieved passages are not
stored, so they are not in it; blank turns are left out, and a blank answer makes no row. Every
text is redacted with the given :class:`Redactor` (emails, phones, IBANs, cards, national IDs, keys
and tokens), whatever the store did; each row's ``meta`` holds only ids, the adapter and the intent
(no user ids, no API keys).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from supportkit.data.preferences import FIELDS
from supportkit.pipelines.checkpoints import writing
from supportkit.privacy import Redactor
from supportkit.store import Store
from supportkit.store.base import prompt_turns
from supportkit.utils.atomic import atomic_write_text

FORMATS = tuple(FIELDS)
_PAGE = 500


def _prompt(store: Store, record: Any, cache: dict[str, Any], history_turns: int) -> list[dict[str, str]]:
    """The turns before the rated answer (the last ``history_turns`` of them, and the question)."""
    if record.conversation_id is None:
        return [{"role": "user", "content": record.question}]
    if record.conversation_id not in cache:
        cache[record.conversation_id] = store.conversation(record.conversation_id)
    conversation = cache[record.conversation_id]
    before: list[tuple[str, str]] = []
    for message in conversation.messages if conversation is not None else ():
        if message.response_id == record.response_id:
            break
        if message.role != "system" and message.content.strip():  # a blank answer says nothing
            before.append((message.role, message.content))
    turns = prompt_turns(before)
    question = turns[-1:] if turns and turns[-1]["role"] == "user" else []
    if not question:
        return [{"role": "user", "content": record.question}]
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


def export_rows(
    store: Store,
    fmt: str,
    *,
    redactor: Redactor | None = None,
    since: float | None = None,
    history_turns: int = 6,
) -> list[dict[str, Any]]:
    """The store's feedback as ``fmt`` rows (``dpo`` or ``kto``), deduplicated.

    Args:
        store: the conversation store the server writes.
        fmt: ``dpo`` (pairs) or ``kto`` (labelled answers).
        redactor: what every text is redacted with (default: :class:`Redactor` with its default regions).
        since: unix seconds; only feedback given at or after it.
        history_turns: stored turns before the question kept in ``prompt``.

    Raises ``ValueError`` for an unknown format and ``StoreError`` when the store cannot be read.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    redact = redactor or Redactor()
    cache: dict[str, Any] = {}
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for record in _records(store, since):
        if not (record.question or "").strip() or not record.answer.strip():
            continue  # nothing asked or nothing answered: no row to learn from
        prompt = [
            {"role": t["role"], "content": redact(t["content"])}
            for t in _prompt(store, record, cache, history_turns)
        ]
        answer, correction = redact(record.answer), redact(record.correction or "").strip()
        meta = {
            "feedback_id": record.id,
            "response_id": record.response_id,
            "adapter": record.metadata.get("adapter"),
            "intent": record.metadata.get("intent"),
        }
        candidates: list[dict[str, Any]] = []
        if fmt == "dpo":
            if record.rating == "down" and correction and correction != answer.strip():
                candidates.append({"chosen": _answer(correction), "rejected": _answer(answer)})
        else:
            candidates.append({"completion": _answer(answer), "label": record.rating == "up"})
            if correction and correction != answer.strip():
                candidates.append({"completion": _answer(correction), "label": True})
        for candidate in candidates:
            row = {"prompt": prompt, **candidate}
            key = json.dumps(row, sort_keys=True)
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
