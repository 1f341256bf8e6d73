"""A writer process for the store contention tests: imports only the store (spawn pays the import)."""

from __future__ import annotations

import threading
from typing import Any


def write_turns(path: str, writer: str, count: int, go: Any, errors: Any) -> None:
    """Open the store and append ``count`` turns for user ``writer``; report any exception."""
    go.wait(30)
    try:
        from supportkit.store import Store

        for i in range(count):  # a store per request, as short-lived workers and CLI runs open it
            Store(path).append_turns(
                writer, [("user", f"{writer} q{i}", None), ("assistant", f"{writer} a{i}", None)]
            )
    except BaseException as exc:
        errors.put(f"{writer}: {type(exc).__module__}.{type(exc).__name__}: {exc}")


def write_everything(path: str, writer: str, count: int, go: Any, errors: Any) -> None:
    """Open the store and write conversations, messages, feedback and profiles for ``writer``."""
    go.wait(30)
    try:
        from supportkit.store import Message, Store

        store = Store(path)
        cid = store.start_conversation(user_id=writer, conversation_id=f"c-{writer}")
        for i in range(count):
            store.append_messages(
                cid, [Message("user", f"q{i}"), Message("assistant", f"a{i}", response_id=f"{writer}-{i}")]
            )
            store.add_feedback(f"{writer}-{i}", "up" if i % 2 else "down")
            store.update_profile(writer, {"n": i})
    except BaseException as exc:
        errors.put(f"{writer}: {type(exc).__module__}.{type(exc).__name__}: {exc}")


def in_threads(
    target: Any, path: str, writers: list[str], count: int, go: Any, errors: Any
) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, args=(path, w, count, go, errors)) for w in writers]
    for t in threads:
        t.start()
    return threads
