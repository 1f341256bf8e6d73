"""Conversations, feedback, erasure, redaction and the message size cap of the SQLite store."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from supportkit.store import (
    ConflictError,
    InvalidRecordError,
    Message,
    NotFoundError,
    Store,
)


def _exchange(store: Store, cid: str, n: int, **meta: object) -> None:
    store.append_messages(
        cid,
        [
            Message("user", f"question {n}"),
            Message("assistant", f"answer {n}", response_id=f"{cid}-r{n}", metadata=meta),
        ],
    )


def test_conversation_round_trip_and_survives_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    cid = store.start_conversation(user_id="u1")
    meta = {"adapter": "billing", "strategy": "knowledge", "latency_s": 0.8, "prompt_tokens": 120}
    _exchange(store, cid, 1, **meta)
    conversation = Store(tmp_path / "s.db").conversation(cid)  # a restarted server sees it
    assert conversation is not None
    assert (conversation.user_id, conversation.status, conversation.escalated) == ("u1", "assistant", False)
    assert [(m.role, m.content, m.response_id) for m in conversation.messages] == [
        ("user", "question 1", None),
        ("assistant", "answer 1", f"{cid}-r1"),
    ]
    assert conversation.messages[1].metadata == meta
    assert conversation.message_count == 2
    assert store.conversation("missing") is None


def test_conversation_history_for_prompts(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    cid = store.start_conversation()
    store.append_messages(
        cid,
        [
            Message("system", "client system text"),
            Message("user", "q1"),
            Message("agent", "a human answers"),
            Message("user", "q2"),
        ],
    )
    assert store.conversation_history(cid) == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a human answers"},
        {"role": "user", "content": "q2"},
    ]
    assert store.conversation_history(cid, limit=1) == [{"role": "user", "content": "q2"}]
    assert store.conversation_history("missing") == []


def test_conversation_messages_are_part_of_the_users_history(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.append_turns("u1", [("user", "cli question", None)])
    cid = store.start_conversation(user_id="u1")
    _exchange(store, cid, 1)
    store.append_turns("u1", [("user", "pipeline turn", None)], conversation_id=cid)
    assert [t["content"] for t in store.history("u1")] == [
        "cli question",
        "question 1",
        "answer 1",
        "pipeline turn",
    ]
    assert [t["content"] for t in store.conversation_history(cid)] == [
        "question 1",
        "answer 1",
        "pipeline turn",
    ]


def test_start_conversation_ids_and_owners(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    a, b = store.start_conversation(), store.start_conversation()
    assert a != b and len(a) >= 32
    assert store.start_conversation("u1", conversation_id="chosen") == "chosen"
    assert store.start_conversation("u1", conversation_id="chosen") == "chosen"  # idempotent
    with pytest.raises(ConflictError, match="belongs to another user"):
        store.start_conversation("u2", conversation_id="chosen")
    with pytest.raises(ConflictError, match="belongs to another user"):
        store.append_turns("u2", [("user", "hijack", None)], conversation_id="chosen")
    _exchange(store, a, 1)
    assert store.start_conversation("u3", conversation_id=a) == a  # an anonymous one is claimed
    assert [t["content"] for t in store.history("u3")] == ["question 1", "answer 1"]
    with pytest.raises(NotFoundError, match="start_conversation"):
        store.append_messages("nope", [Message("user", "hello")])
    with pytest.raises(InvalidRecordError):
        store.start_conversation(conversation_id=" ")


def test_listing_puts_escalated_and_taken_over_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    calm = store.start_conversation("u1", "calm")
    angry = store.start_conversation("u2", "angry")
    taken = store.start_conversation("u3", "taken")
    _exchange(store, angry, 1, escalation="customer asked for a human")
    _exchange(store, taken, 1)
    store.set_conversation_status(taken, "agent")
    since = time.time()
    _exchange(store, calm, 1)  # the most recently updated
    ids = [c.id for c in store.list_conversations()]
    assert ids == ["taken", "angry", "calm"]  # needing attention first, then most recent first
    assert store.list_conversations(escalated_first=False)[0].id == "calm"
    assert [c.id for c in store.list_conversations(since=since)] == ["calm"]
    assert [c.id for c in store.list_conversations(user_id="u2")] == ["angry"]
    assert [c.id for c in store.list_conversations(status="agent")] == ["taken"]
    assert len(store.list_conversations(limit=1, offset=2)) == 1
    listed = {c.id: c for c in store.list_conversations()}
    assert listed["angry"].escalated and listed["taken"].escalated and not listed["calm"].escalated
    assert listed["angry"].message_count == 2 and listed["angry"].messages == []
    store.set_conversation_status(angry, "closed")
    store.set_conversation_status(taken, "assistant")  # handed back: the escalation is handled
    store.set_conversation_status(angry, "closed")  # its update is now the latest
    assert [c.id for c in store.list_conversations()] == ["angry", "taken", "calm"]
    assert not any(c.id != "angry" and c.escalated for c in store.list_conversations())
    with pytest.raises(NotFoundError):
        store.set_conversation_status("missing", "closed")
    with pytest.raises(InvalidRecordError, match="status 'open'"):
        store.set_conversation_status(calm, "open")


def test_feedback_joined_with_answer_and_question(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    cid = store.start_conversation("u1")
    _exchange(store, cid, 1, adapter="billing")
    _exchange(store, cid, 2, adapter="billing")
    store.append_turns("u2", [("user", "plain q", None), ("assistant", "plain a", None)])
    first = store.add_feedback(f"{cid}-r1", "down", correction="the right answer", comment="wrong fee")
    second = store.add_feedback(f"{cid}-r2", "up")
    assert second > first
    records = store.list_feedback()
    assert [r.id for r in records] == [second, first]  # newest first
    down = store.list_feedback(rating="down")
    assert len(down) == 1
    record = down[0]
    assert (record.answer, record.question) == ("answer 1", "question 1")
    assert (record.correction, record.comment, record.user_id, record.conversation_id) == (
        "the right answer",
        "wrong fee",
        "u1",
        cid,
    )
    assert record.metadata == {"adapter": "billing"}
    assert store.list_feedback(since=time.time() + 60) == []
    with pytest.raises(NotFoundError, match="no response with id 'unknown'"):
        store.add_feedback("unknown", "up")
    with pytest.raises(InvalidRecordError, match="rating 'meh'"):
        store.add_feedback(f"{cid}-r1", "meh")
    assert store.response_owner(f"{cid}-r1") == (cid, "u1")
    assert store.response_owner("unknown") is None


def test_delete_conversation_erases_messages_and_feedback(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    gone, kept = store.start_conversation("u1"), store.start_conversation("u1")
    _exchange(store, gone, 1)
    _exchange(store, kept, 1)
    store.add_feedback(f"{gone}-r1", "down", correction="x")
    store.add_feedback(f"{kept}-r1", "up")
    assert store.delete_conversation(gone) is True
    assert store.delete_conversation(gone) is False
    assert store.conversation(gone) is None
    assert [r.response_id for r in store.list_feedback()] == [f"{kept}-r1"]
    assert [t["content"] for t in store.history("u1")] == ["question 1", "answer 1"]
    with store.connect() as conn:
        assert (
            conn.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (gone,)).fetchone()[0]
            == 0
        )
        assert conn.execute("SELECT content FROM messages").fetchall() == [("question 1",), ("answer 1",)]


def test_erase_user_removes_everything_of_that_user_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    for user in ("u1", "u2"):
        store.update_profile(user, {"plan": "pro"})
        store.append_turns(user, [("user", f"{user} q", None), ("assistant", f"{user} a", None)])
        cid = store.start_conversation(user, f"c-{user}")
        _exchange(store, cid, 1)
        store.add_feedback(f"{cid}-r1", "up")
    counts = store.erase_user("u1")
    assert counts == {"profile": 1, "messages": 4, "conversations": 1, "feedback": 1}
    assert store.get_profile("u1") == {} and store.history("u1") == [] and store.conversation("c-u1") is None
    assert [r.user_id for r in store.list_feedback()] == ["u2"]
    assert store.get_profile("u2") == {"plan": "pro"} and len(store.history("u2")) == 4
    with store.connect() as conn:
        leftovers = conn.execute("SELECT COUNT(*) FROM messages WHERE content LIKE 'u1%'").fetchone()[0]
    assert leftovers == 0


def _mask_emails(text: str) -> str:
    return re.sub(r"[\w.+-]+@[\w-]+\.[\w.]+", "[EMAIL]", text)


def test_redaction_applies_before_anything_is_written(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", redact=_mask_emails)
    store.append_turns("u1", [("user", "mail me at ann@example.com", None)])
    cid = store.start_conversation("u1")
    store.append_messages(
        cid,
        [
            Message("user", "I am bob@example.org"),
            Message(
                "assistant", "ok", response_id="r1", metadata={"escalation": {"summary": "bob@example.org"}}
            ),
        ],
    )
    store.add_feedback("r1", "down", correction="write to bob@example.org", comment="from bob@example.org")
    raw = (tmp_path / "s.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("s.db-*"))
    assert b"example.com" not in raw and b"example.org" not in raw
    assert store.history("u1")[0]["content"] == "mail me at [EMAIL]"
    record = store.list_feedback()[0]
    assert (record.correction, record.comment) == ("write to [EMAIL]", "from [EMAIL]")


def test_oversize_messages_are_truncated_with_a_marker_or_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", max_message_chars=1000)
    store.append_turns("u1", [("user", "x" * 5000, None)])
    stored = store.history("u1")[0]["content"]
    assert len(stored) <= 1000 and stored.startswith("x" * 900)
    assert stored.endswith("[truncated by the store: the message had 5000 characters]")
    strict = Store(tmp_path / "s.db", max_message_chars=1000, oversize="error")
    with pytest.raises(InvalidRecordError, match=r"5000 characters.*max_message_chars"):
        strict.append_turns("u1", [("user", "ok", None), ("user", "y" * 5000, None)])
    assert len(strict.history("u1")) == 1  # nothing of the refused request landed
    unlimited = Store(tmp_path / "s.db", max_message_chars=None)
    unlimited.append_turns("u2", [("user", "z" * 50_000, None)])
    assert len(unlimited.history("u2")[0]["content"]) == 50_000
    with pytest.raises(ValueError, match="max_message_chars"):
        Store(tmp_path / "s.db", max_message_chars=10)


def test_check_writable(tmp_path: Path) -> None:
    Store(tmp_path / "s.db").check_writable()
