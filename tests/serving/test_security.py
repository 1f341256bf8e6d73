"""Keys (env and salted-hash file), scopes, the loopback rule of ``serve``, and admin adapter loading."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from supportkit.cli import main
from supportkit.errors import ConfigError
from supportkit.serving.auth import KeyRing
from tests.serving.conftest import ServerThread, serving_config

QUESTION = "Where is my parcel?"
ASK = {"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 2}


def test_serve_refuses_a_public_address_without_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SUPPORTKIT_API_KEYS", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "refusing to serve on 0.0.0.0 without API keys" in capsys.readouterr().err


def test_keys_new_writes_a_salted_hash_that_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "new", "--scope", "admin", "--name", "ops"]) == 0
    out = capsys.readouterr().out.splitlines()
    key = out[0].rsplit(" ", 1)[1]
    line = out[1].split(": ", 1)[1]
    assert key not in line and line.startswith("ops admin scrypt$")
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(f"# operators\n{line}\n")
    ring = KeyRing.load(None, keys_file)
    found = ring.check(key)
    assert found is not None and (found.name, found.scope) == ("ops", "admin")
    assert ring.check(key + "x") is None
    keys_file.write_text("ops admin not-a-hash\n")
    with pytest.raises(ConfigError, match=r"keys.txt:1"):
        KeyRing.load(None, keys_file)
    with pytest.raises(ConfigError, match="SUPPORTKIT_API_KEYS entry 2"):
        KeyRing.load("a:chat,b:root")


def test_scopes_separate_customers_from_operators(start_server: Callable[..., ServerThread]) -> None:
    server = start_server(keys="k-admin:admin,k-web:chat,k-app:chat")
    base = server.app.state.supportkit.base_id

    def call(method: str, path: str, key: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.request(method, server.url + path, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]

    reply = call("POST", "/v1/chat/completions", "k-web", json={"model": base, **ASK}).json()
    conversation = reply["supportkit"]["conversation_id"]
    assert call("GET", f"/v1/conversations/{conversation}", "k-web").status_code == 200
    assert call("GET", f"/v1/conversations/{conversation}", "k-app").status_code == 404  # not its own
    assert call("DELETE", f"/v1/conversations/{conversation}", "k-app").status_code == 404
    assert call("GET", f"/v1/conversations/{conversation}", "k-admin").status_code == 200
    rating = {"response_id": reply["id"], "rating": "up"}
    assert call("POST", "/v1/feedback", "k-app", json=rating).status_code == 404  # not its answer
    assert call("POST", "/v1/feedback", "k-web", json=rating).status_code == 200
    assert call("GET", "/v1/feedback", "k-web").status_code == 403  # the export is the operators'
    exported = call("GET", "/v1/feedback?rating=up", "k-admin").json()["data"]
    assert [(f["response_id"], f["question"]) for f in exported] == [(reply["id"], QUESTION)]
    assert "api_key" not in exported[0]["meta"]
    assert call("GET", "/v1/conversations", "k-web").status_code == 403
    listed = call("GET", "/v1/conversations", "k-admin").json()["data"]
    assert [(c["id"], c["message_count"]) for c in listed] == [(conversation, 2)]
    assert call("GET", "/metrics", "k-web").status_code == 403
    assert call("GET", "/metrics", "k-admin").status_code == 200
    assert call("PUT", "/v1/users/u1/profile", "k-web", json={"name": "Ada"}).status_code == 403
    put = call("PUT", "/v1/users/u1/profile", "k-admin", json={"name": "Ada", "plan": "gold"})
    assert put.json() == {"user": "u1", "profile": {"name": "Ada", "plan": "gold"}}
    assert call("GET", "/v1/users/u1/profile", "k-admin").json()["profile"]["plan"] == "gold"
    assert call("DELETE", "/v1/users/u1/profile", "k-admin").json()["deleted"] is True
    assert call("GET", "/v1/users/u1/profile", "k-admin").json()["profile"] == {}
    assert httpx.get(server.url + "/ready").status_code == 401
    assert call("GET", "/ready", "k-web").json()["status"] == "ready"


def test_every_route_but_the_public_ones_needs_a_key(start_server: Callable[..., ServerThread]) -> None:
    """Every route in the schema, the schema and its doc pages: 401 without a valid key, whatever
    the method or body (a bad body is not validated, so not echoed, for an unknown caller)."""
    server = start_server(
        "serving.allow_adapter_loading=true", "serving.auth_failure_limit=null", keys="k-admin:admin"
    )
    admin = {"Authorization": "Bearer k-admin"}
    spec = httpx.get(server.url + "/openapi.json", headers=admin, timeout=30)
    assert spec.status_code == 200
    routes = [(m.upper(), p) for p, ops in spec.json()["paths"].items() for m in ops]
    assert len(routes) >= 20
    routes += [("GET", p) for p in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect")]
    public = {"/health", "/chat-config.json"}
    for method, template in routes:
        path = template.format(conversation_id="c1", user_id="u1", article_id="a1")
        for extra in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "k-admin"}):
            for verb in (method, "HEAD"):
                reply = httpx.request(verb, server.url + path, headers=extra, content=b'{"bad": ', timeout=30)
                closed = reply.status_code == 401
                assert closed == (path not in public), (verb, path, extra, reply.status_code)
    for page in ("/", "/console", "/widget.js", "/static/chat.js"):  # the pages: files without data
        assert httpx.get(server.url + page, timeout=30).status_code == 200


def test_wrong_keys_are_limited_per_address_before_they_are_hashed(
    start_server: Callable[..., ServerThread], tmp_path: Path
) -> None:
    """Each wrong key costs a salted hash per configured key (on purpose): past
    ``serving.auth_failure_limit`` an address gets 429 without any; known keys are not held up."""
    from supportkit.serving.auth import hash_key

    server = start_server("serving.auth_failure_limit=3/minute")
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(f"ops admin {hash_key('k-ops')}\nweb chat {hash_key('k-web')}\n")
    server.app.state.supportkit.keys = KeyRing.load(None, keys_file)
    url = server.url + "/v1/models"

    def get(key: str | None) -> httpx.Response:
        return httpx.get(url, headers={"Authorization": f"Bearer {key}"} if key else {}, timeout=30)

    assert get("k-ops").status_code == 200  # verified once, known from now on
    assert [get(f"guess-{n}").status_code for n in range(3)] == [401, 401, 401]
    held = get("guess-4")
    assert held.status_code == 429 and int(held.headers["Retry-After"]) >= 1
    assert "wrong API key" in held.json()["error"]["message"]
    assert get("k-ops").status_code == 200
    assert get(None).status_code == 401  # no key: nothing to hash, a plain 401


def test_concurrent_wrong_keys_cannot_pass_the_limit_together(
    start_server: Callable[..., ServerThread], tmp_path: Path
) -> None:
    """Guesses sent at once: each used to pass the limit before any failure was counted (all of them
    hashed, on worker threads the other routes need); now an address's wrong keys are checked in turn."""
    from concurrent.futures import ThreadPoolExecutor

    from supportkit.serving.auth import hash_key

    server = start_server("serving.auth_failure_limit=3/minute")
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("".join(f"k{n} chat {hash_key(f'k-{n}')}\n" for n in range(4)))
    server.app.state.supportkit.keys = KeyRing.load(None, keys_file)

    def get(n: int) -> int:
        headers = {"Authorization": f"Bearer guess-{n}"}
        return httpx.get(server.url + "/v1/models", headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(12) as pool:
        codes = sorted(pool.map(get, range(12)))
    assert codes == [401] * 3 + [429] * 9


def test_admin_loads_and_unloads_adapters_only_when_allowed(
    start_server: Callable[..., ServerThread], adapter_dirs: dict[str, str]
) -> None:
    closed = start_server()
    body = {"lora_name": "returns", "lora_path": adapter_dirs["billing"]}
    assert httpx.post(closed.url + "/v1/load_lora_adapter", json=body).status_code == 403
    server = start_server("serving.allow_adapter_loading=true", "serving.adapters={}")
    models = lambda: {m["id"] for m in httpx.get(server.url + "/v1/models").json()["data"]}  # noqa: E731
    assert models() == {server.app.state.supportkit.base_id}
    bad = httpx.post(
        server.url + "/v1/load_lora_adapter", json={"lora_name": "x", "lora_path": "/nonexistent"}
    )
    assert bad.status_code == 400 and "/nonexistent" in bad.json()["error"]["message"]
    assert httpx.post(server.url + "/v1/load_lora_adapter", json=body, timeout=60).status_code == 200
    assert "returns" in models()
    answer = httpx.post(server.url + "/v1/chat/completions", json={"model": "returns", **ASK}, timeout=60)
    assert answer.status_code == 200 and answer.json()["supportkit"]["adapter"] == "returns"
    unload = httpx.post(server.url + "/v1/unload_lora_adapter", json={"lora_name": "returns"}, timeout=60)
    assert unload.status_code == 200 and "returns" not in models()
    gone = httpx.post(server.url + "/v1/chat/completions", json={"model": "returns", **ASK}, timeout=60)
    assert gone.status_code == 404


def test_declared_adapters_are_validated_at_start(
    tiny_model_dir: Path, tmp_path: Path, smol_tokenizer: object
) -> None:
    from supportkit.config import Config
    from supportkit.models.peft import PEFTModel
    from supportkit.retrieval.embedder import HashingEmbedder
    from supportkit.serving.build import build_server
    from supportkit.testing import build_tiny_model_dir

    other_base = build_tiny_model_dir(tmp_path / "other-base", smol_tokenizer, seed=7)
    foreign = PEFTModel(Config().with_overrides([f"model.name_or_path={other_base}"]))
    foreign.save_model(tmp_path / "foreign")

    def build(path: Path) -> object:
        config = serving_config(tiny_model_dir, tmp_path, {"returns": str(path)})
        return build_server(config, embedder=HashingEmbedder(), project_defaults=False)

    with pytest.raises(ConfigError, match=r"serving.adapters.returns: .*not a directory"):
        build(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"serving.adapters.returns"):
        build(tmp_path / "empty")
    with pytest.raises(
        ConfigError, match=r"serving.adapters.returns: this adapter was trained on base .*other-base"
    ):
        build(tmp_path / "foreign")


SECRETS = {
    "key": "sk-proj-Q8vT3xLm9Zr2Wb7Kd4Hn6Yp1Fs5Jc0Ue",
    "password": "hunter2!x",
    "card": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
}


def test_secrets_a_customer_types_reach_neither_the_prompt_nor_the_store(
    start_server: Callable[..., ServerThread], tmp_path: Path
) -> None:
    """Keys, passwords, cards, IBANs in the question, the request's history, a correction and an
    agent's reply: the prompt and every stored row hold placeholders (streamed or not)."""
    import openai

    server = start_server(keys="k-admin:admin,k-web:chat")
    state = server.app.state.supportkit
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="k-web", max_retries=0)
    said = f"My password is {SECRETS['password']} and my card is {SECRETS['card']}."
    question = f"I pasted my key {SECRETS['key']} here; refund to IBAN {SECRETS['iban']} please."
    messages: Any = [
        {"role": "user", "content": said},
        {"role": "assistant", "content": "Thanks."},
        {"role": "user", "content": question},
    ]
    whole = client.chat.completions.create(model=state.base_id, messages=messages, max_tokens=2)
    conversation = whole.supportkit["conversation_id"]  # type: ignore[attr-defined]
    stream = client.chat.completions.create(
        model=state.base_id,
        messages=[{"role": "user", "content": question}],
        max_tokens=2,
        stream=True,
        extra_body={"conversation_id": conversation},
    )
    assert [c for c in stream]
    admin = {"Authorization": "Bearer k-admin"}
    rating = {"response_id": whole.id, "rating": "down", "correction": f"Use key {SECRETS['key']}."}
    assert httpx.post(server.url + "/v1/feedback", headers=admin, json=rating).status_code == 200
    url = f"{server.url}/v1/conversations/{conversation}"
    assert httpx.post(url + "/takeover", headers=admin).status_code == 200
    reply = {"content": f"Your card {SECRETS['card']} is refunded."}
    assert httpx.post(url + "/agent_reply", headers=admin, json=reply).status_code == 200
    prompt = state.engine.pipeline.prompt_for(question, history=messages[:2]).messages
    stored = httpx.get(url, headers=admin).json()
    exported = httpx.get(server.url + "/v1/feedback", headers=admin).json()
    with sqlite3.connect(tmp_path / "store.db") as db:  # the file itself, every table
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = [str(row) for table in tables for row in db.execute(f'SELECT * FROM "{table}"')]
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "user", "assistant", "agent"]
    assert "[SECRET]" in stored["messages"][0]["content"] and "[CARD]" in stored["messages"][-1]["content"]
    for where, text in [("prompt", str(prompt)), ("api", str(stored) + str(exported)), ("db", str(rows))]:
        for kind, secret in SECRETS.items():
            assert secret not in text and secret.replace(" ", "") not in text, (where, kind)
