"""Batching, backpressure and deadlines on a real server: concurrent answers equal one-at-a-time ones."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.serving.conftest import ServerThread

QUESTIONS = [
    "Where is my parcel?",
    "I was charged twice for one order.",
    "How do I return a jacket?",
    "Can I change my delivery address?",
]


def _stream_text(client: openai.OpenAI, model: str, question: str) -> str:
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": question}],
        max_tokens=8,
        temperature=0,
        stream=True,
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


@contextlib.contextmanager
def _decoding(server: ServerThread, body: dict[str, Any]) -> Iterator[Iterator[str]]:
    """Stream ``body`` and yield its remaining lines once its row is in the decoder."""
    with httpx.stream(
        "POST", f"{server.url}/v1/chat/completions", json={**body, "stream": True}, timeout=120
    ) as r:
        lines = r.iter_lines()
        next(line for line in lines if line.startswith("data: "))  # the role chunk: generation started
        while server.app.state.supportkit.engine.decoder.running == 0:
            time.sleep(0.005)
        yield lines


@pytest.mark.parametrize("engine_name", ["static", "hf"])
def test_concurrent_streams_with_different_adapters_equal_one_at_a_time(
    start_server: Callable[..., ServerThread], engine_name: str
) -> None:
    server = start_server("serving.max_batch_size=8", f"serving.engine={engine_name}")
    base = server.app.state.supportkit.base_id
    engine = server.app.state.supportkit.engine
    jobs = [(model, q) for q in QUESTIONS for model in (base, "billing")] + [
        ("shipping", QUESTIONS[0]),
        ("shipping", QUESTIONS[1]),
    ][:8]
    jobs = jobs[:8]
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=120)
    alone = [_stream_text(client, model, q) for model, q in jobs]
    assert engine.batches == len(jobs)

    together: list[str | None] = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def run(i: int) -> None:
        start.wait()
        together[i] = _stream_text(client, *jobs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert together == alone
    assert engine.batches - len(jobs) < len(jobs)  # some requests were generated together


def test_overload_gets_503_with_retry_after_then_recovers(start_server: Callable[..., ServerThread]) -> None:
    server = start_server("serving.max_batch_size=1", "serving.max_queue=2", "generation.max_new_tokens=48")
    base = server.app.state.supportkit.base_id
    body = {"model": base, "messages": [{"role": "user", "content": "Where is my parcel?"}], "max_tokens": 48}
    statuses: list[int] = []
    retry_after: list[str] = []
    lock = threading.Lock()

    def post() -> None:
        r = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=120)
        with lock:
            statuses.append(r.status_code)
            if r.status_code == 503:
                retry_after.append(r.headers["Retry-After"])
                assert r.json()["error"]["type"] == "ServiceUnavailableError"

    engine = server.app.state.supportkit.engine
    peak = [0]
    done = threading.Event()

    def watch() -> None:  # the queue never holds more than serving.max_queue requests
        while not done.is_set():
            peak[0] = max(peak[0], engine.waiting)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=post) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    watcher.join()
    assert 1 <= peak[0] <= 2
    assert set(statuses) <= {200, 503} and statuses.count(503) >= 1 and statuses.count(200) >= 3
    assert all(int(v) >= 1 for v in retry_after)
    assert server.app.state.supportkit.engine.waiting == 0  # nothing left behind
    again = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=120)
    assert again.status_code == 200  # recovered
    metrics = httpx.get(f"{server.url}/metrics").text
    assert f'supportkit_requests_rejected_total{{reason="queue_full"}} {statuses.count(503)}.0' in metrics


def test_deadline_ends_the_request_with_a_clear_error(start_server: Callable[..., ServerThread]) -> None:
    server = start_server("serving.request_timeout_s=0.000001")
    base = server.app.state.supportkit.base_id
    body = {"model": base, "messages": [{"role": "user", "content": "Where is my parcel?"}], "max_tokens": 4}
    whole = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60)
    assert whole.status_code == 504 and "request_timeout_s" in whole.json()["error"]["message"]
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json={**body, "stream": True}) as r:
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant"
    assert "request_timeout_s" in json.loads(events[-2])["error"]["message"]
    assert events[-1] == "[DONE]"
    conversations = server.app.state.supportkit.store.list_conversations()
    assert conversations == []  # a failed request stores nothing


def test_a_client_that_disconnects_stops_its_row(start_server: Callable[..., ServerThread]) -> None:
    server = start_server("generation.max_new_tokens=400", "generation.min_new_tokens=400")
    state = server.app.state.supportkit
    body = {"model": state.base_id, "messages": [{"role": "user", "content": "Tell me about refunds."}]}
    began = time.monotonic()
    whole = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=120)
    full_s = time.monotonic() - began
    assert whole.json()["usage"]["completion_tokens"] == 400

    began = time.monotonic()
    with httpx.stream(
        "POST", f"{server.url}/v1/chat/completions", json={**body, "stream": True, "conversation_id": "gone"}
    ) as r:
        lines = r.iter_lines()
        next(line for line in lines if line.startswith("data: "))  # the role chunk: generation started
    # the connection is closed here; the row must stop well before 400 tokens
    while state.engine.running and time.monotonic() - began < 60:
        time.sleep(0.01)
    stopped_s = time.monotonic() - began
    assert stopped_s < full_s / 2, (stopped_s, full_s)
    assert httpx.get(f"{server.url}/v1/conversations/gone").status_code == 404  # never acknowledged


def test_a_new_request_joins_the_running_batch(start_server: Callable[..., ServerThread]) -> None:
    """Continuous batching: a short request sent while a long answer decodes is answered before the
    long one ends (it joins the running batch at the next step instead of waiting for it)."""
    server = start_server("generation.max_new_tokens=400", "generation.min_new_tokens=400")
    state = server.app.state.supportkit
    long_body = {"model": state.base_id, "messages": [{"role": "user", "content": "Tell me about refunds."}]}
    with _decoding(server, long_body) as lines:  # the long answer is decoding
        short = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={**long_body, "max_tokens": 3, "min_tokens": None},
            timeout=120,
        )
        assert short.status_code == 200, short.text
        assert state.engine.running == 1  # the long answer is still decoding
        assert state.engine.joins >= 1 and state.engine.batches == 1
        rest = [line for line in lines if line.startswith("data: ")]
    assert rest[-1] == "data: [DONE]"


def test_serving_dtype_loads_the_model_in_that_dtype(start_server: Callable[..., ServerThread]) -> None:
    import torch

    server = start_server("serving.dtype=bfloat16", "model.dtype=float32")
    state = server.app.state.supportkit
    named = state.engine.pipeline.model.model.named_parameters()
    assert {p.dtype for n, p in named if "lora_" not in n} == {torch.bfloat16}  # the base weights
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=120)
    for model in (state.base_id, "billing"):  # the base and a LoRA adapter (kept fp32 by peft)
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": QUESTIONS[0]}], max_tokens=8, temperature=0
        )
        assert reply.usage is not None and reply.usage.completion_tokens > 0


def test_stopping_the_engine_ends_streams_in_flight(start_server: Callable[..., ServerThread]) -> None:
    """A stop (server shutdown) ends the answers being decoded with a 503 error event now, not when
    their deadline passes."""
    server = start_server(
        "generation.max_new_tokens=400", "generation.min_new_tokens=400", "serving.request_timeout_s=90"
    )
    state = server.app.state.supportkit
    body = {"model": state.base_id, "messages": [{"role": "user", "content": "Tell me about refunds."}]}
    with _decoding(server, body) as lines:
        began = time.monotonic()
        state.engine.stop()
        events = [line[6:] for line in lines if line.startswith("data: ")]
        ended_s = time.monotonic() - began
    assert ended_s < 30, ended_s  # not the 90 s deadline
    assert "shutting down" in json.loads(events[-2])["error"]["message"]
    assert events[-1] == "[DONE]"
    assert not state.engine.decoder.busy  # the cancelled row left the decoder
