"""SIGKILL the server in the middle of a streamed answer, restart it: the store is intact and every
acknowledged turn is there; conversations continue across the restart (one subprocess test). A turn
the store refuses leaves no empty conversation behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.conftest import serving_config

SERVER = """
import sys, uvicorn
from supportkit.config import Config
from supportkit.retrieval.embedder import HashingEmbedder
from supportkit.serving.build import build_server
config = Config.from_yaml(sys.argv[1])
app = build_server(config, embedder=HashingEmbedder(), project_defaults=False)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(config_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(config_path), str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise AssertionError("the server did not become ready")


@pytest.mark.slow
def test_sigkill_mid_stream_loses_no_acknowledged_turn(
    tiny_model_dir: Path, tmp_path: Path, adapter_dirs: dict[str, str]
) -> None:
    config = serving_config(
        tiny_model_dir,
        tmp_path,
        adapter_dirs,
        "generation.max_new_tokens=300",
        "generation.min_new_tokens=300",
    )
    config_path = tmp_path / "serve.yaml"
    config.to_yaml(config_path)
    proc, url = _start(config_path)
    acknowledged: dict[str, str] = {}  # response id -> conversation id
    try:
        for model in ("billing", "shipping", "billing"):
            body = {
                "model": model,
                "messages": [{"role": "user", "content": "Where is my parcel?"}],
                "max_tokens": 3,
            }
            reply = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60).json()
            acknowledged[reply["id"]] = reply["supportkit"]["conversation_id"]
        stream_body = {
            "model": "billing",
            "messages": [{"role": "user", "content": "Tell me everything about refunds."}],
            "stream": True,
            "conversation_id": "killed-conversation",
        }
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=stream_body, timeout=60) as r:
            lines = r.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            assert json.loads(first[6:])["choices"][0]["delta"]["role"] == "assistant"
            os.kill(proc.pid, signal.SIGKILL)  # in the middle of the streamed answer
            proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    db = tmp_path / "store.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    proc, url = _start(config_path)
    try:
        for response_id, conversation_id in acknowledged.items():
            stored = httpx.get(f"{url}/v1/conversations/{conversation_id}", timeout=30).json()
            assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
            assert stored["messages"][1]["response_id"] == response_id
        killed = httpx.get(f"{url}/v1/conversations/killed-conversation", timeout=30)
        assert killed.status_code == 404  # never acknowledged, never half-stored
        # a conversation goes on after the restart
        first_conversation = next(iter(acknowledged.values()))
        body = {
            "model": "billing",
            "messages": [{"role": "user", "content": "And the refund?"}],
            "max_tokens": 3,
            "conversation_id": first_conversation,
        }
        assert httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60).status_code == 200
        stored = httpx.get(f"{url}/v1/conversations/{first_conversation}", timeout=30).json()
        assert len(stored["messages"]) == 4
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_a_turn_the_store_refuses_leaves_no_conversation_behind(start_server: Any, tmp_path: Path) -> None:
    """The store refuses a turn (a real SQLite failure: a trigger aborts the insert): the request
    fails, no empty conversation is left (it made the customer's retry with the same id a 404 for
    its own key), and once the store accepts writes again the retry starts it afresh."""
    server = start_server(keys="k-admin:admin,k-web:chat")
    url, web = f"{server.url}/v1/chat/completions", {"Authorization": "Bearer k-web"}
    ask = {
        "model": server.app.state.supportkit.base_id,
        "messages": [{"role": "user", "content": "Where is my parcel?"}],
        "max_tokens": 2,
        "conversation_id": "client-chosen-1",
    }
    with sqlite3.connect(tmp_path / "store.db") as db:
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'full'); END")
    for stream in (False, True):
        failed = httpx.post(url, headers=web, json={**ask, "stream": stream}, timeout=60)
        assert failed.status_code == 409 if not stream else '"code": 409' in failed.text
        assert str(tmp_path) not in failed.text  # the server's files are the log's business
        admin = {"Authorization": "Bearer k-admin"}
        assert httpx.get(f"{server.url}/v1/conversations", headers=admin).json()["data"] == []
    with sqlite3.connect(tmp_path / "store.db") as db:
        db.execute("DROP TRIGGER refuse")
    retried = httpx.post(url, headers=web, json=ask, timeout=60)
    assert retried.status_code == 200, retried.text
    stored = httpx.get(f"{server.url}/v1/conversations/client-chosen-1", headers=web).json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
