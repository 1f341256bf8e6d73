"""Migration 3 (who took a conversation over; answers by time) and what the console reads from the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from supportkit.store import MIGRATIONS, Message, Store


def test_version_2_databases_gain_the_agent_column_and_keep_their_data(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:2]:
        for statement in migration.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO conversations VALUES ('c1', 'u1', 'agent', 5.0, 1.0, 5.0)")
    conn.execute(
        "INSERT INTO messages (user_id, conversation_id, role, content, created_at) "
        "VALUES ('u1', 'c1', 'user', 'hello', 2.0)"
    )
    conn.close()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS) == 3
    old = store.conversation("c1")
    assert old is not None and old.status == "agent" and old.agent is None
    assert [m.content for m in old.messages] == ["hello"]
    store.set_conversation_status("c1", "agent", agent="ops")
    assert store.conversation("c1").agent == "ops"  # type: ignore[union-attr]
    with store.connect() as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert "messages_created" in {r[1] for r in raw.execute("PRAGMA index_list(messages)")}


def test_takeover_hand_back_and_polling_for_new_messages(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    cid = store.start_conversation("u1")
    escalated = {"escalation": "human_request", "handoff": "Escalated: human_request"}
    ids = store.append_messages(
        cid, [Message("user", "a person please"), Message("assistant", "passing you on", "r1", escalated)]
    )
    listed = store.list_conversations()[0]
    assert listed.escalated and listed.escalation is not None
    assert listed.escalation["handoff"] == "Escalated: human_request"
    store.set_conversation_status(cid, "agent", agent="sam")
    store.append_messages(cid, [Message("agent", "Sam here", metadata={"agent": "sam"})])
    newer = store.conversation(cid, after=ids[-1])
    assert newer is not None and [(m.role, m.content) for m in newer.messages] == [("agent", "Sam here")]
    assert newer.message_count == 3 and newer.agent == "sam"
    assert store.conversation(cid, after=newer.messages[-1].id or 0).messages == []  # type: ignore[union-attr]
    store.set_conversation_status(cid, "assistant")
    back = store.conversation(cid)
    assert back is not None and back.status == "assistant" and back.agent is None and not back.escalated


def test_answers_since_carry_their_ratings(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    cid = store.start_conversation()
    store.append_messages(
        cid,
        [
            Message("user", "q", created_at=100.0),
            Message("assistant", "old", "r0", {"latency_s": 1.0}, created_at=100.0),
            Message("assistant", "a", "r1", {"latency_s": 2.0}, created_at=200.0),
            Message("assistant", "b", "r2", {"adapter": "billing"}, created_at=300.0),
        ],
    )
    store.add_feedback("r1", "up")
    store.add_feedback("r1", "down")
    rows = store.answers_since(150.0)
    assert [(t, m, sorted(r)) for t, m, r in rows] == [
        (300.0, {"adapter": "billing"}, []),
        (200.0, {"latency_s": 2.0}, ["down", "up"]),
    ]
    assert [f.response_id for f in store.list_feedback(adapter="")] == ["r1", "r1"]
    assert store.list_feedback(adapter="billing") == []
