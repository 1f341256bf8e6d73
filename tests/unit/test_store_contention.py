"""Many processes and threads writing one store at once: every write lands, no raw sqlite3 error."""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from supportkit.store import Store, StoreError
from tests import store_worker

PROCESSES, THREADS = 8, 4


def _run(target, path: Path, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    ctx = multiprocessing.get_context("spawn")
    go, errors = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(str(path), f"p{n}", count, go, errors)) for n in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    thread_errors: queue.Queue[str] = queue.Queue()
    thread_go = threading.Event()
    threads = store_worker.in_threads(
        target, str(path), [f"t{n}" for n in range(THREADS)], count, thread_go, thread_errors
    )
    time.sleep(1.0)  # let the spawned interpreters import the store, then start everyone together
    go.set()
    thread_go.set()
    for t in threads:
        t.join(60)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    found = [thread_errors.get() for _ in range(thread_errors.qsize())]
    while True:
        try:
            found.append(errors.get(timeout=0.2))
        except queue.Empty:
            return found


def test_concurrent_openers_and_appenders_all_land(tmp_path: Path) -> None:
    path = tmp_path / "contended.db"
    count = 25
    errors = _run(store_worker.write_turns, path, count)
    assert errors == []
    store = Store(path)
    for writer in [f"p{n}" for n in range(PROCESSES)] + [f"t{n}" for n in range(THREADS)]:
        turns = store.history(writer)
        assert len(turns) == 2 * count, writer
        assert [t["content"] for t in turns[::2]] == [f"{writer} q{i}" for i in range(count)]


def test_concurrent_conversations_feedback_and_profiles_all_land(tmp_path: Path) -> None:
    path = tmp_path / "contended.db"
    errors = _run(store_worker.write_everything, path, 10)
    assert errors == []
    store = Store(path)
    writers = [f"p{n}" for n in range(PROCESSES)] + [f"t{n}" for n in range(THREADS)]
    assert len(store.list_conversations(limit=100)) == len(writers)
    assert len(store.list_feedback(limit=1000)) == 10 * len(writers)
    for writer in writers:
        conversation = store.conversation(f"c-{writer}")
        assert conversation is not None and conversation.message_count == 20
        assert store.get_profile(writer) == {"n": 9}


def test_a_lock_held_past_the_deadline_is_a_store_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    store = Store(path, timeout_s=0.5)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"held\.db.*locked for 0\.5 s") as caught:
            store.append_turns("u1", [("user", "hello", None)])
        assert 0.4 < time.monotonic() - started < 3.0
        assert not isinstance(caught.value, sqlite3.Error)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.append_turns("u1", [("user", "hello", None)])
    assert store.history("u1") == [{"role": "user", "content": "hello"}]


def test_opening_a_current_store_takes_no_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "open.db"
    Store(path).append_turns("u1", [("user", "hello", None)])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a long write elsewhere (a bulk import, another server)
    try:
        started = time.monotonic()
        reopened = Store(path)
        assert reopened.history("u1") == [{"role": "user", "content": "hello"}]  # WAL: readers go on
        assert time.monotonic() - started < 2.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_lock_released_within_the_deadline_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    store = Store(path, timeout_s=5)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    store.append_turns("u1", [("user", "hello", None)])
    release.join()
    holder.close()
    assert store.history("u1") == [{"role": "user", "content": "hello"}]
