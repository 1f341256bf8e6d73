"""Input checks through the real server and the official client: an empty question is a 400 (also
when streaming), a long one is cut and reported, the question's language is in the metadata."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import openai
import pytest

from tests.serving.conftest import ServerThread


def test_empty_question_is_an_openai_style_400_even_when_streaming(
    start_server: Callable[..., ServerThread],
) -> None:
    server = start_server()
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)
    base = server.app.state.supportkit.base_id
    for content in ("   ", "\x00\x01\x1b", "\u200b"):
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as caught:
                client.chat.completions.create(
                    model=base, messages=[{"role": "user", "content": content}], max_tokens=3, stream=stream
                )
            assert caught.value.status_code == 400
            assert "not empty" in caught.value.message and caught.value.body["param"] == "messages.0"


def test_long_question_is_cut_and_reported_with_its_language(
    start_server: Callable[..., ServerThread],
) -> None:
    server = start_server("guardrails.max_query_chars=300")
    question = "Where is my parcel? It was due last week and " + "I keep waiting for it " * 40
    body = {
        "model": server.app.state.supportkit.base_id,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": 3,
    }
    r = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60)
    assert r.status_code == 200
    meta = r.json()["supportkit"]
    assert meta["input_truncated"]["from_chars"] == len(question.strip())
    assert meta["input_truncated"]["to_chars"] <= 300
    assert meta["language"]["code"] == "en" and meta["language"]["supported"] is True


def test_deeply_nested_objects_are_a_400_and_nothing_is_stored(
    start_server: Callable[..., ServerThread],
) -> None:
    """A profile or user_context nested 300 deep (valid JSON) is refused before it is stored or
    used: it was stored, then every read of the profile was a 500."""
    server = start_server()
    url = f"{server.url}/v1/users/u1/profile"
    assert httpx.put(url, json={"plan": "gold", "address": {"city": {"name": "Oslo"}}}).status_code == 200
    deep = '{"a":' * 300 + "1" + "}" * 300
    ask = {"model": server.app.state.supportkit.base_id, "messages": [{"role": "user", "content": "Hi"}]}
    chat = json.dumps({**ask, "user_context": "DEEP"}).replace('"DEEP"', deep)
    json_type = {"Content-Type": "application/json"}
    for method, path, body in (("PUT", url, deep), ("POST", f"{server.url}/v1/chat/completions", chat)):
        refused = httpx.request(method, path, content=body, headers=json_type, timeout=60)
        assert refused.status_code == 400 and "nested deeper than" in refused.json()["error"]["message"]
    kept = httpx.get(url)
    assert kept.status_code == 200 and kept.json()["profile"]["plan"] == "gold"
