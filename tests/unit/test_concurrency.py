"""Thread safety, proven: concurrent requests give the sequential answers; bank writers never show
a reader a half-added example; the query-embedding cache is bounded and shared."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from supportkit import LoRAModel
from supportkit.config import Config
from supportkit.data.readers import QAExample
from supportkit.pipelines.inference import InferencePipeline
from supportkit.pipelines.response import Request
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import HashingEmbedder
from supportkit.retrieval.query_cache import QueryEmbeddings
from tests.helpers import CountingEmbedder, chat_batch, train_steps


def test_eight_threads_get_exactly_the_sequential_answers(
    tiny_config: Config, smol_tokenizer: Any, tmp_path: Path
) -> None:
    config = tiny_config.with_overrides(
        ["generation.max_new_tokens=5", f"prompt.store_path={tmp_path / 'store.db'}", "peft.method=lora"]
    )
    model = LoRAModel(config)
    model.add_adapter("billing")
    model.set_adapter("billing")
    train_steps(model, chat_batch(smol_tokenizer, ["Your invoice is attached."]), steps=3, lr=5e-2)
    model.set_adapter("default")
    pipeline = InferencePipeline(model, config, bank=ExampleBank(embedder=HashingEmbedder()))
    pipeline.add_few_shot_example("I was charged twice", "Duplicate charges are refunded.", intent="billing")
    pipeline.add_few_shot_example("where is my parcel", "Track it under Orders.", intent="shipping")
    strategies = ["zero_shot", "few_shot", "role_context", "cot"]
    requests = [
        Request(
            f"question {i}: where is my parcel number {i}?",
            strategies[i % 4],
            adapter=("billing", "default", None)[i % 3],
            history=[],  # the store's history differs between orders of execution; keep prompts fixed
            user_id=f"user{i % 5}",
            user_context={"account_type": ("basic", "premium")[i % 2]},
            do_sample=i % 2 == 0,  # seeded sampling rows mixed with greedy ones
            seed=i,
        )
        for i in range(24)
    ]
    sequential = [pipeline.respond(**_kwargs(r)) for r in requests]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda r: pipeline.respond(**_kwargs(r)), requests))
    assert [r.text for r in concurrent] == [r.text for r in sequential]
    assert [r.prompt_tokens for r in concurrent] == [r.prompt_tokens for r in sequential]
    assert [r.adapter for r in concurrent] == [r.adapter for r in sequential]
    assert model.active_adapter == "default"  # every switch was put back
    assert len({r.text for r in sequential}) > 1  # the requests really differ
    by_adapter = pipeline.respond_batch(
        [Request("same question", adapter=a, history=[]) for a in ("billing", "default")]
    )
    assert (
        by_adapter[0].generated_tokens != by_adapter[1].generated_tokens
        or by_adapter[0].text != by_adapter[1].text
    )
    assert pipeline.store is not None and len(pipeline.store.history("user0")) == 2 * 2 * 5


def _kwargs(r: Request) -> dict[str, Any]:
    return {
        "query": r.query,
        "strategy": r.strategy,
        "adapter": r.adapter,
        "history": r.history,
        "user_id": r.user_id,
        "user_context": r.user_context,
        "do_sample": r.do_sample,
        "seed": r.seed,
    }


def test_concurrent_bulk_adds_never_show_a_half_added_example() -> None:
    bank = ExampleBank(embedder=HashingEmbedder())
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            snap = bank.snapshot()
            n = len(snap.examples)
            if n != snap.vectors.shape[0]:
                problems.append(f"{n} examples, {snap.vectors.shape[0]} vectors")
            if n and snap.examples[n - 1].answer != f"answer for {snap.examples[n - 1].question}":
                problems.append("an example paired with another's data")
            if n and snap.vectors.shape[1] and abs(float((snap.vectors[n - 1] ** 2).sum()) - 1.0) > 1e-4:
                problems.append("a vector row not yet written")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    before = bank.snapshot()
    for batch in range(40):
        bank.extend([QAExample(f"q{batch}-{i} words", f"answer for q{batch}-{i} words") for i in range(25)])
        bank.add(f"single {batch}", f"answer for single {batch}")
    stop.set()
    for t in threads:
        t.join()
    assert problems == [] and len(bank) == 40 * 26
    assert len(before) == 0  # an old snapshot is unchanged by later adds (copy-on-write)
    first = bank.snapshot()
    bank.add("one more", "answer for one more")
    assert len(first) == 40 * 26 and first.examples[-1].question == "single 39"


def test_adds_are_amortised_not_whole_matrix_copies() -> None:
    bank = ExampleBank(embedder=HashingEmbedder())
    buffers = set()
    for i in range(300):
        bank.add(f"question {i}", f"answer {i}")
        buffers.add(id(bank._buffer))
    assert len(buffers) <= 6  # the vector buffer doubles: a handful of copies for 300 adds


def test_bulk_extend_embeds_once(tmp_path: Path) -> None:
    counting = CountingEmbedder()
    calls: list[int] = []
    original = counting.embed

    def embed(texts: Any) -> Any:
        calls.append(len(texts))
        return original(texts)

    counting.embed = embed  # type: ignore[method-assign]
    bank = ExampleBank(tmp_path / "bank.jsonl", embedder=counting)
    bank.extend([QAExample(f"q{i}", f"a{i}") for i in range(50)])
    assert calls == [50]
    bank.flush()
    reopened = CountingEmbedder()
    assert len(ExampleBank(tmp_path / "bank.jsonl", embedder=reopened)) == 50 and reopened.embedded == 0


def test_bank_file_with_line_separators_reopens(tmp_path: Path) -> None:
    path = tmp_path / "bank.jsonl"
    answer = "Line one\u2028line two\u2029para\x85next\x0bvt\x0cff\x1cfs\rcr"
    ExampleBank(path, embedder=HashingEmbedder()).add("q with \u2028 separator", answer)
    ExampleBank(path, embedder=HashingEmbedder()).add("second", "plain")
    raw = path.read_bytes()
    assert raw.count(b"\n") == 2 and "\u2028".encode() not in raw
    reopened = ExampleBank(path, embedder=HashingEmbedder())
    assert [e.answer for e in reopened.snapshot().examples] == [answer, "plain"]
    assert json.loads(raw.splitlines()[0])["answer"] == answer


def test_query_cache_is_bounded_shared_and_locked() -> None:
    counting = CountingEmbedder()
    cache = QueryEmbeddings(counting, capacity=3)
    bank = ExampleBank(embedder=counting, queries=cache)
    labelled = ExampleBank(embedder=counting, queries=bank.queries)
    assert labelled.embed_query("a") is bank.embed_query("a") and counting.embedded == 1
    for text in ("b", "c", "d"):
        cache.embed(text)
    assert len(cache) == 3 and counting.embedded == 4
    cache.embed("a")  # evicted (least recently used): embedded again
    assert counting.embedded == 5
    with ThreadPoolExecutor(max_workers=8) as pool:
        vectors = list(pool.map(cache.embed, [f"q{i % 5}" for i in range(200)]))
    assert len(cache) == 3 and all(not v.flags.writeable for v in vectors)
