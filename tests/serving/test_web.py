"""The routes behind the web pages, over real HTTP: take over / agent reply / hand back, the events long
poll, the dashboard, the browser key and its origins, the pages themselves."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from supportkit.errors import ConfigError
from supportkit.serving.auth import KeyRing, browser_key
from supportkit.serving.dashboard import summarize
from supportkit.store import Message
from tests.serving.conftest import ServerThread

ADMIN = {"Authorization": "Bearer k-admin"}
WEB = {"Authorization": "Bearer k-web"}


def _ask(server: ServerThread, text: str, key: str = "none", **extra: Any) -> Any:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=60)
    return client.chat.completions.create(
        model=server.app.state.supportkit.base_id,
        messages=[{"role": "user", "content": text}],
        max_tokens=4,
        extra_body=extra,
    )


def test_taken_over_conversation_is_answered_by_the_agent_not_the_model(
    start_server: Callable[..., ServerThread],
) -> None:
    server = start_server(keys="k-admin:admin,k-web:chat,k-app:chat")
    store = server.app.state.supportkit.store
    first = _ask(server, "Where is my parcel?", key="k-web")
    cid = first.model_extra["supportkit"]["conversation_id"]  # type: ignore[index]
    url = f"{server.url}/v1/conversations/{cid}"
    # only admins take over
    assert httpx.post(url + "/takeover", headers=WEB).status_code == 403
    taken = httpx.post(url + "/takeover", headers=ADMIN).json()
    assert taken["status"] == "agent" and store.conversation(cid).agent == "env-1"

    # the customer's next message is stored for the agent; nothing is generated
    before = len(store.conversation(cid).messages)
    notice = _ask(server, "Hello? Anyone there?", key="k-web", conversation_id=cid)
    meta = notice.model_extra["supportkit"]  # type: ignore[index]
    assert meta["handled_by"] == "agent" and notice.usage.completion_tokens == 0
    assert notice.choices[0].message.content == server.app.state.supportkit.settings.agent_notice
    assert [(m.role, m.content) for m in store.conversation(cid).messages[before:]] == [
        ("user", "Hello? Anyone there?")
    ]
    # streamed the same way
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="k-web", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model=server.app.state.supportkit.base_id,
            messages=[{"role": "user", "content": "Still there?"}],
            stream=True,
            extra_body={"conversation_id": cid},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Your message")
    assert [m.role for m in store.conversation(cid).messages].count("assistant") == 1

    # the customer's page waits on /events; the agent's reply wakes it up
    last = store.conversation(cid).messages[-1].id
    got: dict[str, Any] = {}

    def wait() -> None:
        got["body"] = httpx.get(f"{url}/events?after={last}&wait=20", headers=WEB, timeout=30).json()

    waiter = threading.Thread(target=wait)
    started = time.monotonic()
    waiter.start()
    time.sleep(0.5)
    reply = httpx.post(url + "/agent_reply", headers=ADMIN, json={"content": "It arrives tomorrow."})
    assert reply.status_code == 200
    waiter.join(30)
    assert time.monotonic() - started < 10  # answered when the reply came, not at the end of the wait
    assert [(m["role"], m["content"]) for m in got["body"]["messages"]] == [("agent", "It arrives tomorrow.")]
    assert got["body"]["status"] == "agent"
    # an empty wait answers with no messages
    quiet = httpx.get(f"{url}/events?after={got['body']['messages'][-1]['id']}&wait=0", headers=WEB).json()
    assert quiet["messages"] == []
    # another chat key sees nothing of it
    other = httpx.get(f"{url}/events?wait=0", headers={"Authorization": "Bearer k-app"})
    assert other.status_code == 404

    # hand back: the model answers again, with the agent's turn in its history
    assert httpx.post(url + "/handback", headers=ADMIN).json()["status"] == "assistant"
    again = _ask(server, "Thanks, and the invoice?", key="k-web", conversation_id=cid)
    assert again.model_extra["supportkit"]["handled_by"] is None  # type: ignore[index]
    assert store.conversation(cid).messages[-1].role == "assistant"
    assert store.conversation(cid).agent is None

    # the agent's reply is training data: a good answer to the customer's pending messages (the model
    # only sent the agent notice, which is not stored: no answer of its own to pair it with)
    def export(fmt: str, source: str = "all") -> list[dict[str, Any]]:
        got = httpx.get(
            f"{server.url}/v1/feedback/export", params={"format": fmt, "source": source}, headers=ADMIN
        )
        assert got.status_code == 200, got.text
        return [json.loads(line) for line in got.text.splitlines()]

    [row] = export("kto", "agent")
    assert row["completion"] == [{"role": "assistant", "content": "It arrives tomorrow."}] and row["label"]
    assert row["prompt"][0]["content"].startswith("Where is my parcel?")  # (a blank answer is left out)
    assert row["prompt"][-1]["content"].endswith("Hello? Anyone there?\n\nStill there?")
    assert set(row["meta"]) == {"conversation_id", "message_ids", "response_id", "adapter", "intent"}
    assert "env-1" not in json.dumps(row)  # who took over is not exported
    assert row in export("kto") and export("dpo") == [] and export("kto", "feedback") == []


def test_the_answer_a_hand_off_withheld_is_never_returned(start_server: Callable[..., ServerThread]) -> None:
    server = start_server(keys="k-admin:admin,k-web:chat")
    store = server.app.state.supportkit.store
    withheld = "Returns are accepted for 90 days."
    cid = _ask(server, "Hello", key="k-web").model_extra["supportkit"]["conversation_id"]  # type: ignore[index]
    meta = {"escalation": "low_groundedness", "withheld": withheld}  # as a hand-off after generation
    store.append_messages(
        cid,
        [
            Message("user", "How long can I return items?"),
            Message("assistant", "A colleague will reply.", response_id="r-w", metadata=meta),
        ],
    )
    store.add_feedback("r-w", "down")
    url = f"{server.url}/v1/conversations/{cid}"
    seen = [
        httpx.get(url, headers=WEB),
        httpx.get(url + "/events?wait=0", headers=WEB),
        httpx.get(url, headers=ADMIN),
        httpx.get(f"{server.url}/v1/feedback", headers=ADMIN),
    ]
    assert [r.status_code for r in seen] == [200] * 4
    assert all(withheld not in r.text and "low_groundedness" in r.text for r in seen)
    exported = httpx.get(f"{server.url}/v1/feedback/export", params={"format": "kto"}, headers=ADMIN)
    assert [json.loads(line)["completion"][0]["content"] for line in exported.text.splitlines()] == [withheld]


def test_agent_reply_takes_over_and_errors_are_clear(start_server: Callable[..., ServerThread]) -> None:
    server = start_server()
    cid = _ask(server, "Where is my parcel?").model_extra["supportkit"]["conversation_id"]  # type: ignore[index]
    url = f"{server.url}/v1/conversations/{cid}"
    assert httpx.post(url + "/agent_reply", json={"content": ""}).status_code == 400
    body = httpx.post(url + "/agent_reply", json={"content": "Hi, Sam here."}).json()
    assert body["status"] == "agent" and body["messages"][-1]["role"] == "agent"
    missing = httpx.post(f"{server.url}/v1/conversations/nope/takeover")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
    listed = httpx.get(f"{server.url}/v1/conversations").json()["data"]
    assert listed[0]["id"] == cid and listed[0]["agent"] == "open"


def test_conversation_list_carries_the_reason_and_hand_off_summary(
    start_server: Callable[..., ServerThread],
) -> None:
    server = start_server()
    _ask(server, "Where is my parcel?")
    escalated = _ask(server, "I want to speak to a human agent now")
    cid = escalated.model_extra["supportkit"]["conversation_id"]  # type: ignore[index]
    first = httpx.get(f"{server.url}/v1/conversations").json()["data"][0]
    assert first["id"] == cid and first["escalated"] and first["reason"] == "human_request"
    assert "Customer asked: I want to speak to a human agent now" in first["handoff"]


def test_dashboard_counts_answers_escalations_and_ratings(start_server: Callable[..., ServerThread]) -> None:
    server = start_server()
    answers = [_ask(server, "Where is my parcel?") for _ in range(2)]
    _ask(server, "I want to speak to a human agent now")
    for reply, rating in zip(answers, ("up", "down"), strict=True):
        httpx.post(f"{server.url}/v1/feedback", json={"response_id": reply.id, "rating": rating})
    body = httpx.get(f"{server.url}/v1/dashboard?window=3600").json()
    assert body["answers"] == 3
    assert body["escalation"] == {"rate": round(1 / 3, 4), "reasons": {"human_request": 1}}
    assert body["thumbs_up"]["rate"] == 0.5 and body["thumbs_up"]["by_adapter"][""]["up"] == 1
    assert sum(b["answers"] for b in body["series"]) == 3
    assert body["latency_s"]["p50"] > 0 and body["http"]["/v1/chat/completions 200"] == 3
    assert httpx.get(f"{server.url}/v1/dashboard?window=10").status_code == 400


def test_summarize_splits_grounded_quoted_and_handoff() -> None:
    now = time.time()
    rows = [
        (now - 10, {"groundedness": 0.9, "latency_s": 1.0, "adapter": "billing", "intent": "refund"}, ["up"]),
        (now - 20, {"groundedness": 0.2, "quoted": True, "latency_s": 3.0}, ["down"]),
        (now - 30, {"escalation": "low_groundedness", "latency_s": 2.0}, []),
        (now - 40, {"latency_s": 4.0, "ttft_s": 0.5}, ["up", "up"]),
    ]
    body = summarize(rows, now - 3600, 3600.0)
    assert body["grounding"] == {"grounded": 1, "quoted": 1, "handoff": 1, "unchecked": 1}
    assert body["latency_s"]["p50"] == 2.5 and body["ttft_s"] == {"p50": 0.5, "p95": 0.5}
    assert body["thumbs_up"]["by_adapter"]["billing"] == {"up": 1, "down": 0, "rate": 1.0}
    assert body["thumbs_up"]["by_intent"]["unknown"] == {"up": 2, "down": 1, "rate": round(2 / 3, 4)}
    assert body["series"][-1]["answers"] == 4


def test_feedback_filters_by_adapter_and_intent(start_server: Callable[..., ServerThread]) -> None:
    server = start_server()
    base = _ask(server, "Where is my parcel?")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    billing = client.chat.completions.create(
        model="billing", messages=[{"role": "user", "content": "Refund please"}], max_tokens=4
    )
    for reply in (base, billing):
        httpx.post(f"{server.url}/v1/feedback", json={"response_id": reply.id, "rating": "down"})
    by = lambda q: [f["response_id"] for f in httpx.get(f"{server.url}/v1/feedback?{q}").json()["data"]]  # noqa: E731
    assert by("adapter=billing") == [billing.id]
    assert by("adapter=") == [base.id]
    assert by("intent=no-such-intent") == []


def test_browser_key_must_be_a_configured_chat_key() -> None:
    ring = KeyRing.load("k-admin:admin,k-web:chat")
    assert browser_key(ring, "k-web") == "k-web"
    assert browser_key(ring, "") is None
    with pytest.raises(ConfigError, match="chat-scope"):
        browser_key(ring, "k-admin")
    with pytest.raises(ConfigError, match="not one of the configured keys"):
        browser_key(ring, "k-unknown")


def test_browser_key_works_only_from_allowed_origins(start_server: Callable[..., ServerThread]) -> None:
    shop = "https://shop.example"
    server = start_server(f"serving.cors_origins=[{shop}]", keys="k-admin:admin,k-web:chat")
    server.app.state.supportkit.browser_key = "k-web"
    config = httpx.get(f"{server.url}/chat-config.json").json()
    assert config == {
        "model": server.app.state.supportkit.base_id,
        "keys_required": True,
        "browser_key": "k-web",
    }
    models = f"{server.url}/v1/models"
    assert httpx.get(models, headers={**WEB, "Origin": shop}).status_code == 200
    assert httpx.get(models, headers={**WEB, "Origin": server.url}).status_code == 200  # its own page
    assert httpx.get(models, headers={**WEB, "Sec-Fetch-Site": "same-origin"}).status_code == 200
    refused = httpx.get(models, headers={**WEB, "Origin": "https://evil.example"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "origin_not_allowed"
    assert httpx.get(models, headers=WEB).status_code == 403  # no browser said where it came from
    # CORS: the shop may call, another site may not
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    ok = httpx.options(f"{server.url}/v1/chat/completions", headers={**preflight, "Origin": shop})
    assert ok.headers.get("access-control-allow-origin") == shop
    other = httpx.options(
        f"{server.url}/v1/chat/completions", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers
    # the admin routes stay closed to the browser key
    assert httpx.get(f"{server.url}/v1/conversations", headers={**WEB, "Origin": shop}).status_code == 403


def test_the_public_browser_key_cannot_speak_for_a_customer(
    start_server: Callable[..., ServerThread],
) -> None:
    """Anyone can read the browser key, so a request with it naming ``user`` (whose profile fills
    the prompt and the answer's slots) is refused; the operator's own chat keys may name one."""
    server = start_server(keys="k-admin:admin,k-web:chat,k-app:chat")
    server.app.state.supportkit.browser_key = "k-web"
    profile = {"name": "Alice", "email": "alice@example.com", "order_number": "BC-1"}
    admin = {"Authorization": "Bearer k-admin"}
    assert httpx.put(f"{server.url}/v1/users/alice/profile", headers=admin, json=profile).status_code == 200
    ask = {"model": server.app.state.supportkit.base_id, "messages": [{"role": "user", "content": "Hi"}]}
    page = {**WEB, "Origin": server.url}
    url = f"{server.url}/v1/chat/completions"
    refused = httpx.post(url, headers=page, json={**ask, "user": "alice", "max_tokens": 2}, timeout=60)
    assert refused.status_code == 403 and refused.json()["error"]["param"] == "user"
    streamed = {**ask, "user": "alice", "max_tokens": 2, "stream": True}
    assert httpx.post(url, headers=page, json=streamed, timeout=60).status_code == 403
    assert httpx.post(url, headers=page, json={**ask, "max_tokens": 2}, timeout=60).status_code == 200
    app = {"Authorization": "Bearer k-app"}
    assert (
        httpx.post(url, headers=app, json={**ask, "user": "alice", "max_tokens": 2}, timeout=60).status_code
        == 200
    )


def test_pages_are_served_and_can_be_turned_off(start_server: Callable[..., ServerThread]) -> None:
    server = start_server(keys="k-admin:admin")
    for path, marker in (("/", "chat.js"), ("/console", "console.js"), ("/widget.js", "attachShadow")):
        page = httpx.get(server.url + path)
        assert page.status_code == 200 and marker in page.text, path
    assert "frame-ancestors" in httpx.get(server.url + "/").headers["content-security-policy"]
    assert httpx.get(server.url + "/static/chat.css").status_code == 200
    assert httpx.get(server.url + "/v1/dashboard").status_code == 401  # the data still needs a key
    off = start_server("serving.web_pages=false")
    assert (
        httpx.get(off.url + "/").status_code == 404 and httpx.get(off.url + "/widget.js").status_code == 404
    )


def test_cited_articles_come_with_links_and_their_text(
    start_server: Callable[..., ServerThread], tmp_path: Path
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "shipping.md").write_text("# Shipping times\n\nParcels ship within two days of the order.\n")
    server = start_server(
        f"knowledge.path={kb}",
        f"knowledge.index_dir={tmp_path / 'index'}",
        "knowledge.min_similarity=0.0",
        "guardrails.min_retrieval_similarity=0.0",
        "guardrails.min_extract_similarity=0.0",
    )
    meta = _ask(server, "When does my parcel ship?").model_extra["supportkit"]  # type: ignore[index]
    assert meta["sources"] == [{"title": "Shipping times", "article": "shipping", "url": "shipping.md"}]
    article = httpx.get(f"{server.url}/v1/articles/shipping").json()
    assert article["title"] == "Shipping times" and "within two days" in article["text"]
    assert httpx.get(f"{server.url}/v1/articles/none").status_code == 404


def test_an_empty_agent_notice_is_refused() -> None:
    from supportkit.config import Config

    with pytest.raises(ConfigError, match="agent_notice"):
        Config().with_overrides(["serving.agent_notice=' '"])


def test_a_conversation_erased_while_answering_is_not_started_again(
    start_server: Callable[..., ServerThread],
) -> None:
    """The right to erasure holds against a turn in flight: whole or streamed, an answer whose
    conversation was deleted while it was generated stores nothing and fails with a 404."""
    import tests.browser.conftest  # noqa: F401  (registers the paced decoder: an answer takes seconds)

    server = start_server("serving.engine=paced-test", keys="k-admin:admin,k-web:chat")
    store = server.app.state.supportkit.store
    model = server.app.state.supportkit.base_id

    def started() -> str:
        cid = _ask(server, "Where is my parcel?", key="k-web").model_extra["supportkit"]["conversation_id"]
        assert store.conversation(cid) is not None
        return str(cid)

    def erase(cid: str) -> None:
        gone = httpx.delete(f"{server.url}/v1/conversations/{cid}", headers=WEB)
        assert gone.status_code == 200 and gone.json()["deleted"] is True

    cid = started()  # streamed: erased after the first event, before the answer is stored
    body = {"model": model, "messages": [{"role": "user", "content": "And when?"}], "stream": True}
    events = []
    with httpx.stream(
        "POST", f"{server.url}/v1/chat/completions", json={**body, "conversation_id": cid}, headers=WEB
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
                if len(events) == 1:
                    erase(cid)
    errors = [json.loads(e)["error"] for e in events if e.startswith('{"error"')]
    assert errors and errors[0]["code"] == 404 and "deleted while this answer" in errors[0]["message"]
    assert store.conversation(cid) is None

    cid = started()  # whole
    answered: dict[str, Any] = {}
    ask = threading.Thread(
        target=lambda: answered.update(
            r=httpx.post(
                f"{server.url}/v1/chat/completions",
                json={**body, "stream": False, "conversation_id": cid},
                headers=WEB,
                timeout=60,
            )
        )
    )
    ask.start()
    running = server.app.state.supportkit.metrics.running
    deadline = time.monotonic() + 30
    while running.collect()[0].samples[0].value < 1 and time.monotonic() < deadline:  # generating?
        time.sleep(0.05)
    erase(cid)  # the paced answer takes about 5 s more
    ask.join()
    assert answered["r"].status_code == 404 and "deleted while this answer" in answered["r"].text
    assert store.conversation(cid) is None
