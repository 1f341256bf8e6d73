"""The SQLite store: migrations, profiles, history, atomicity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from supportkit.store import MIGRATIONS, Store
from supportkit.store.sqlite import StoreError


def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    assert store.schema_version == len(MIGRATIONS)
    with store.connect() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    Store(tmp_path / "s.db")  # re-opening does not re-run migrations
    assert store.schema_version == len(MIGRATIONS)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this supportkit knows"):
        Store(path)


def test_profiles_merge_and_survive_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.update_profile("u1", {"account_type": "premium", "join_date": "2023-01-15"})
    store.update_profile("u1", {"preferences": "email", "join_date": None})
    assert Store(tmp_path / "s.db").get_profile("u1") == {"account_type": "premium", "preferences": "email"}
    assert store.get_profile("nobody") == {}
    store.update_profile("u1", {"x": 1}, replace=True)
    assert store.get_profile("u1") == {"x": 1}


def test_history_order_limit_and_isolation(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    for i in range(5):
        store.append_turns("u1", [("user", f"q{i}", None), ("assistant", f"a{i}", {"strategy": "zero_shot"})])
    store.append_turns("u2", [("user", "other", None)])
    assert [m["content"] for m in store.history("u1", limit=3)] == ["a3", "q4", "a4"]
    assert len(store.history("u1")) == 10 and store.history("u2") == [{"role": "user", "content": "other"}]
    assert store.clear_history("u1") == 10 and store.history("u1") == []


def test_a_failed_append_adds_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    with pytest.raises(sqlite3.IntegrityError):
        store.append_turns("u1", [("user", "question", None), ("robot", "bad role", None)])
    assert store.history("u1") == []
