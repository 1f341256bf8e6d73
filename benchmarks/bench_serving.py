"""Serving: aggregate tokens/s, time to first token and end-to-end latency with 1-16 concurrent clients.

A real ``supportkit serve`` app (uvicorn on 127.0.0.1, the bundled model, the project's knowledge
base and guardrails) answers streamed chat completions (greedy, 64-96 new tokens) from 1, 2, 4, 8
and 16 concurrent clients, each sending realistic support questions back to back; the same questions
sent one request at a time give the baseline, in the same run. Clients are threads of this process
(httpx); OMP_WAIT_POLICY=PASSIVE as ``serve`` sets it. ``--quick`` uses the tiny random model.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as ``supportkit serve`` does, before torch

import json
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.datasets import tiny_model_dir
from benchmarks.harness import machine_info, run_main

NAME = "serving"
COMMAND = "python -m benchmarks.bench_serving"
QUESTIONS = [
    "My order arrived damaged. What should I do?",
    "How can I change the shipping address of an order I placed yesterday?",
    "How long does a refund take to reach my card?",
    "Can I return a jacket I bought three weeks ago?",
    "Where can I see the tracking number of my parcel?",
    "How do I reset my password?",
    "Do you ship to Canada, and how much does it cost?",
    "Can I cancel an order that has already shipped?",
    "How do I use a discount code at checkout?",
    "What payment methods do you accept?",
    "My parcel says delivered but I did not get it.",
    "How do I change the email address on my account?",
    "Can I exchange shoes for a different size?",
    "How do I delete my account?",
    "Is there a warranty on electronics?",
    "How can I update my billing address?",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


class _Server:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)


def _ask(url: str, model: str, question: str, max_tokens: int) -> dict[str, float]:
    import httpx

    body = {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    began = time.perf_counter()
    first = None
    tokens = 0
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise RuntimeError(chunk["error"]["message"])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            elif first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - began
    e2e = time.perf_counter() - began
    return {"ttft": first if first is not None else e2e, "e2e": e2e, "tokens": tokens}


def _load(url: str, model: str, clients: int, per_client: int, max_tokens: int) -> dict[str, Any]:
    results: list[dict[str, float]] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        for k in range(per_client):
            question = QUESTIONS[(index * per_client + k) % len(QUESTIONS)]
            answer = _ask(url, model, question, max_tokens)
            with lock:
                results.append(answer)

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    ttft = [r["ttft"] for r in results]
    e2e = [r["e2e"] for r in results]
    tokens = sum(r["tokens"] for r in results)
    return {
        "requests": len(results),
        "tokens": int(tokens),
        "wall_s": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 2),
        "ttft_p50_s": round(_percentile(ttft, 50), 3),
        "ttft_p95_s": round(_percentile(ttft, 95), 3),
        "e2e_p50_s": round(_percentile(e2e, 50), 3),
        "e2e_p95_s": round(_percentile(e2e, 95), 3),
    }


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    from supportkit.config import Config
    from supportkit.serving.build import build_server

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    levels = [1, 2, 4, 8, 16]
    per_client = repeats or (1 if quick else 2)
    min_tokens, max_tokens = (8, 12) if quick else (64, 96)
    server = None
    try:
        overrides = [
            f"generation.min_new_tokens={min_tokens}",
            f"generation.max_new_tokens={max_tokens}",
            "serving.max_batch_size=16",
            "serving.max_queue=64",
            "serving.rate_limit=null",
            "prompt.remember_history=false",
        ]
        if quick:
            overrides.append(f"model.name_or_path={tiny_model_dir(work)}")
        config = Config().with_overrides(overrides)
        engine = config.serving.engine
        app = build_server(config, project_defaults=True)  # the example store's knowledge and guardrails
        server = _Server(app)
        model = app.state.supportkit.base_id
        _load(server.url, model, 1, 1, max_tokens)  # warm-up
        alone = _load(server.url, model, 1, 8 if not quick else 4, max_tokens)
        rows = [{"clients": "one at a time", **alone, "speedup": 1.0}]
        for clients in levels:
            measured = _load(server.url, model, clients, per_client, max_tokens)
            speedup = round(measured["tokens_per_s"] / alone["tokens_per_s"], 2)
            rows.append({"clients": clients, **measured, "speedup": speedup})
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(work, ignore_errors=True)
    import torch

    eight = next(r for r in rows if r["clients"] == 8)
    return {
        "title": "Serving: concurrent streamed clients vs one request at a time",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": {
            **machine_info(),
            "torch_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
        "model": "tiny random Llama"
        if quick
        else f"SmolLM2-135M-Instruct (bundled), {config.model.dtype}, CPU",
        "config": f"serving.engine={engine}, greedy, {min_tokens}-{max_tokens} new tokens, streamed, "
        f"{per_client} request(s) per client back to back, serving.max_batch_size=16, project knowledge "
        "base and guardrails",
        "rows": rows,
        "notes": [
            f"8 clients: {eight['speedup']}x the one-at-a-time aggregate tokens/s "
            f"(target 3x), TTFT p95 {eight['ttft_p95_s']} s (target < 2 s).",
            (
                "Continuous batching (serving.engine static): a request joins the running batch at the "
                "next token and leaves it when it ends."
                if engine == "static"
                else "Static batching: a request that arrives during a batch waits for the whole batch."
            )
            + " TTFT is measured to the first released text; the stream guard releases whole sentences, "
            "so TTFT includes decoding the first sentence.",
        ],
    }


def main(argv: list[str] | None = None) -> None:
    run_main(NAME, __doc__ or NAME, run, argv)


if __name__ == "__main__":
    main()
