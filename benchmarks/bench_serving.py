"""Serving: aggregate tokens/s, time to first token and end-to-end latency with 1-16 concurrent clients.

A real ``supportkit serve`` app (uvicorn on 127.0.0.1, the bundled model, the project's knowledge
base and guardrails) answers streamed chat completions (greedy, 64-96 new tokens) from 1, 2, 4, 8
and 16 concurrent clients, each sending support questions back to back (every request a different
first question of the project's conversations); requests sent one at a time give the baseline, in
the same run (half before the concurrent levels, half after). Clients are threads of this process
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
#: The project's own support conversations: their first questions are the load.
CONVERSATIONS = Path(__file__).resolve().parents[1] / "data" / "store" / "conversations.jsonl"


def questions(pipeline: Any, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct first questions of the project's conversations, intents taken in turn (seeded
    order), skipping any the guardrails would hand to a person without generating (no tokens to time).

    Raises: ValueError when fewer than ``n`` such questions exist."""
    import random
    from collections import defaultdict

    by_intent: dict[str, list[str]] = defaultdict(list)
    for line in CONVERSATIONS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by_intent[row["intent"]].append(row["messages"][0]["content"])
    rng = random.Random(seed)
    pools = [rng.sample(texts, len(texts)) for _, texts in sorted(by_intent.items())]
    rng.shuffle(pools)
    picked: list[str] = []
    seen: set[str] = set()
    while len(picked) < n and any(pools):
        for pool in pools:
            while pool and len(picked) < n:
                text = pool.pop()
                if text not in seen and not pipeline.prepare({"query": text}).escalated:
                    seen.add(text)
                    picked.append(text)
                    break
    if len(picked) < n:
        raise ValueError(f"only {len(picked)} usable questions in {CONVERSATIONS}, {n} needed")
    return picked


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
    replaced = False
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise RuntimeError(chunk["error"]["message"])
            meta = chunk.get("supportkit") or {}
            if meta.get("escalation") or {"extractive_answer", "leak_replaced"} & set(
                meta.get("guardrails") or {}
            ):
                replaced = True  # the checks replaced the model's answer (quote, hand-off)
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            elif first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - began
    e2e = time.perf_counter() - began
    ttft = first if first is not None else e2e
    # held: nothing was released before the answer ended (the stream guard holds every sentence after
    # one it cannot support until the whole answer is checked)
    return {"ttft": ttft, "e2e": e2e, "tokens": tokens, "replaced": replaced, "held": e2e - ttft < 0.25}


def _load(url: str, model: str, batches: list[list[str]], max_tokens: int) -> dict[str, Any]:
    """One client thread per list of questions, each sending its questions back to back; returns
    every answer's timings and the wall time (see :func:`_summary`)."""
    results: list[dict[str, float]] = []
    lock = threading.Lock()

    def client(asked: list[str]) -> None:
        for question in asked:
            answer = _ask(url, model, question, max_tokens)
            with lock:
                results.append(answer)

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(asked,)) for asked in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"results": results, "wall": time.perf_counter() - began}


def _summary(*loads: dict[str, Any]) -> dict[str, Any]:
    """Aggregate tokens/s (all tokens over all wall time) and TTFT/end-to-end percentiles of ``loads``."""
    results = [r for load in loads for r in load["results"]]
    wall = sum(load["wall"] for load in loads)
    ttft = [r["ttft"] for r in results]
    e2e = [r["e2e"] for r in results]
    tokens = sum(r["tokens"] for r in results)
    streamed = [r["ttft"] for r in results if not r["held"]]
    return {
        "requests": len(results),
        "held_to_end": sum(r["held"] for r in results),
        "replaced": sum(r["replaced"] for r in results),
        "streamed_ttft_p50_s": round(_percentile(streamed, 50), 3) if streamed else None,
        "streamed_ttft_p95_s": round(_percentile(streamed, 95), 3) if streamed else None,
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
        state = app.state.supportkit
        model = state.base_id
        dtype = str(next(state.engine.pipeline.model.model.parameters()).dtype).replace("torch.", "")
        alone_n = 4 if quick else 8
        need = 1 + alone_n + sum(levels) * per_client
        pool = iter(questions(state.engine.pipeline, need))

        def take(clients: int, each: int) -> list[list[str]]:
            return [[next(pool) for _ in range(each)] for _ in range(clients)]

        _load(server.url, model, take(1, 1), max_tokens)  # warm-up
        # one request at a time, half before and half after the concurrent levels (drift shows in both)
        before = take(1, alone_n // 2)
        measured_levels = [(clients, take(clients, per_client)) for clients in levels]
        after = take(1, alone_n - alone_n // 2)
        first_half = _load(server.url, model, before, max_tokens)
        rows = []
        for clients, batches in measured_levels:
            rows.append({"clients": clients, **_summary(_load(server.url, model, batches, max_tokens))})
        second_half = _load(server.url, model, after, max_tokens)
        alone = _summary(first_half, second_half)
        for row in rows:
            row["speedup"] = round(row["tokens_per_s"] / alone["tokens_per_s"], 2)
        rows.insert(0, {"clients": "one at a time", **alone, "speedup": 1.0})
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
        else f"SmolLM2-135M-Instruct (bundled), {dtype} weights (serving.dtype={config.serving.dtype}), CPU",
        "config": f"serving.engine={engine}, greedy, {min_tokens}-{max_tokens} new tokens, streamed, "
        f"{per_client} request(s) per client back to back, serving.max_batch_size=16, project knowledge "
        "base and guardrails",
        "rows": rows,
        "notes": [
            f"8 clients: {eight['speedup']}x the one-at-a-time aggregate tokens/s "
            f"(target 3x), TTFT p95 {eight['ttft_p95_s']} s (target < 2 s); {eight['held_to_end']} of "
            f"{eight['requests']} answers were held to their end by the stream guard (a sentence it could "
            "not support holds the rest until the whole answer is checked; "
            f"{eight['replaced']} were then replaced by a quote or a hand-off); the others' TTFT p50/p95 "
            f"{eight['streamed_ttft_p50_s']} / {eight['streamed_ttft_p95_s']} s.",
            (
                "Continuous batching (serving.engine static): a request joins the running batch at the "
                "next token and leaves it when it ends."
                if engine == "static"
                else "Static batching: a request that arrives during a batch waits for the whole batch."
            )
            + " TTFT is measured to the first released text; the stream guard releases whole sentences, "
            "so TTFT includes decoding the first sentence.",
            f"Every request asks a different question: {need} first questions of the project's "
            "conversations (data/store), intents in turn, none the guardrails hand to a person; the "
            "one-at-a-time baseline is half measured before the concurrent levels and half after.",
        ],
    }


def main(argv: list[str] | None = None) -> None:
    run_main(NAME, __doc__ or NAME, run, argv)


if __name__ == "__main__":
    main()
