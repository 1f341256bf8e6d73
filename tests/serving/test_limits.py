"""Request limits, CORS, stop strings and bad pipeline input through the real server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx

from tests.serving.conftest import ServerThread


def _body(server: ServerThread, **extra: object) -> dict[str, object]:
    base = server.app.state.supportkit.base_id
    return {
        "model": base,
        "messages": [{"role": "user", "content": "Where is my parcel?"}],
        "max_tokens": 3,
        **extra,
    }


def test_message_caps_and_chunked_bodies_are_limited(start_server: Callable[..., ServerThread]) -> None:
    server = start_server(
        "serving.max_messages=2", "serving.max_message_chars=50", "serving.max_body_bytes=3000"
    )
    url = f"{server.url}/v1/chat/completions"
    many = [{"role": "user", "content": "hi"}] * 3
    r = httpx.post(url, json=_body(server, messages=many))
    assert r.status_code == 400 and "at most 2 messages" in r.json()["error"]["message"]
    long = [{"role": "user", "content": "x" * 51}]
    r = httpx.post(url, json=_body(server, messages=long))
    assert r.status_code == 400 and "longer than 50 characters" in r.json()["error"]["message"]
    last_not_user = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert httpx.post(url, json=_body(server, messages=last_not_user)).status_code == 400

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"model": "x", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}]}'

    r = httpx.post(url, content=chunked(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["type"] == "RequestTooLargeError"


def test_cors_is_closed_unless_origins_are_configured(start_server: Callable[..., ServerThread]) -> None:
    preflight = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    closed = start_server()
    r = httpx.options(f"{closed.url}/v1/chat/completions", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    opened = start_server("serving.cors_origins=[https://shop.example]")
    r = httpx.options(f"{opened.url}/v1/chat/completions", headers=preflight)
    assert r.headers["access-control-allow-origin"] == "https://shop.example"
    r = httpx.options(
        f"{opened.url}/v1/chat/completions", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert r.headers.get("access-control-allow-origin") != "https://evil.example"


def test_stop_strings_end_the_answer(start_server: Callable[..., ServerThread]) -> None:
    server = start_server("generation.max_new_tokens=30")
    url = f"{server.url}/v1/chat/completions"
    # greedy answers of the random tiny model: take one with text (unfinished sentences are dropped)
    answers = (
        (
            model,
            tokens,
            httpx.post(
                url, json={**_body(server, max_tokens=tokens, temperature=0), "model": model}, timeout=60
            ).json()["choices"][0]["message"]["content"],
        )
        for model in ("billing", "shipping", server.app.state.supportkit.base_id)
        for tokens in (6, 12, 30)
    )
    model, tokens, text = next(a for a in answers if len(a[2].strip()) >= 8)
    stop = text[len(text) // 2 : len(text) // 2 + 3]
    body = {**_body(server, max_tokens=tokens, temperature=0, stop=[stop]), "model": model}
    cut = httpx.post(url, json=body, timeout=60).json()
    assert cut["choices"][0]["finish_reason"] == "stop"
    assert stop not in cut["choices"][0]["message"]["content"]
    assert text.startswith(cut["choices"][0]["message"]["content"].rstrip())


def test_bad_pipeline_input_is_a_400_and_the_batch_goes_on(start_server: Callable[..., ServerThread]) -> None:
    server = start_server()
    url = f"{server.url}/v1/chat/completions"
    r = httpx.post(url, json=_body(server, strategy="no_such_strategy"), timeout=60)
    assert r.status_code == 400 and "no_such_strategy" in r.json()["error"]["message"]
    with httpx.stream(
        "POST", url, json=_body(server, stream=True, strategy="role_context", role="no_such_role"), timeout=60
    ) as s:
        events = [line[6:] for line in s.iter_lines() if line.startswith("data: ")]
    assert "no_such_role" in json.loads(events[-2])["error"]["message"] and events[-1] == "[DONE]"
    assert httpx.post(url, json=_body(server), timeout=60).status_code == 200


def test_out_of_range_numbers_are_400s_not_failed_batches(start_server: Callable[..., ServerThread]) -> None:
    """A seed beyond 64 bits failed the whole decode step (every answer in the batch: 500s), and a
    row id beyond SQLite's integers was a 500: both are 400s naming the field."""
    server = start_server()
    url = f"{server.url}/v1/chat/completions"
    conversation = httpx.post(url, json=_body(server), timeout=60).json()["supportkit"]["conversation_id"]
    for seed in (2**64, -(2**70)):
        for stream in (False, True):
            r = httpx.post(url, json=_body(server, seed=seed, temperature=0.7, stream=stream), timeout=60)
            assert r.status_code == 400 and r.json()["error"]["param"] == "seed", (seed, stream)
    polled = httpx.get(f"{server.url}/v1/conversations/{conversation}/events?after={2**63}&wait=0")
    assert polled.status_code == 400 and polled.json()["error"]["param"] == "query.after"
    assert httpx.post(url, json=_body(server, seed=2**63 - 1, temperature=0.7), timeout=60).status_code == 200
