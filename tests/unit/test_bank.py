"""The few-shot bank: persistence beside the bank, incremental embedding, concurrent readers."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from supportkit.errors import DataError
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import HashingEmbedder
from tests.helpers import CountingEmbedder


def test_bank_persists_and_reuses_embeddings_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "bank.jsonl"
    first = CountingEmbedder()
    bank = ExampleBank(path, embedder=first)
    bank.add("where is my order", "Track it in Orders.", "shipping")
    bank.add("refund please", "Refunds take 5 days.", "refund")
    assert first.embedded == 2  # one at a time, each embedded once
    assert (tmp_path / "bank.embeddings.npy").is_file()

    second = CountingEmbedder()
    reopened = ExampleBank(path, embedder=second)
    assert second.embedded == 0  # vectors reused from disk
    assert [e.question for e in reopened.snapshot().examples] == ["where is my order", "refund please"]
    assert np.allclose(reopened.snapshot().vectors, bank.snapshot().vectors)
    reopened.add("cancel my order", "Orders > Cancel.")
    assert second.embedded == 1  # only the new example


def test_changed_bank_file_is_reembedded(tmp_path: Path) -> None:
    path = tmp_path / "bank.jsonl"
    ExampleBank(path, embedder=HashingEmbedder()).add("a question", "an answer")
    path.write_text('{"question": "another question", "answer": "x"}\n')
    counting = CountingEmbedder()
    bank = ExampleBank(path, embedder=counting)
    assert counting.embedded == 1 and bank.snapshot().examples[0].question == "another question"


def test_dataset_file_vectors_are_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTKIT_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "examples.jsonl"
    data.write_text(
        '{"instruction": "q1", "response": "a1", "intent": "x"}\n{"question": "q2", "answer": "a2"}\n'
    )
    counting = CountingEmbedder()
    assert ExampleBank(embedder=counting).load_file(data) == 2
    assert counting.embedded == 2
    again = CountingEmbedder()
    bank = ExampleBank(embedder=again)
    bank.load_file(data)
    assert again.embedded == 0 and bank.snapshot().examples[0].intent == "x"


def test_bad_rows_are_reported_with_their_line(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(
        '{"question": "q1", "answer": "a1"}\n{"question": "q2"\n{"question": "q3", "answer": ""}\n'
    )
    with pytest.raises(DataError, match=r"bad.jsonl:2: bad JSON"):
        ExampleBank(embedder=HashingEmbedder()).load_file(data)
    bank = ExampleBank(embedder=HashingEmbedder())
    assert bank.load_file(data, on_error="skip") == 1


def test_concurrent_readers_never_see_a_half_added_example() -> None:
    bank = ExampleBank(embedder=HashingEmbedder())
    bank.add("seed question", "seed answer")
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            snap = bank.snapshot()
            if len(snap.examples) != snap.vectors.shape[0]:
                problems.append(f"{len(snap.examples)} examples, {snap.vectors.shape[0]} vectors")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(200):
        bank.add(f"question {i}", f"answer {i}")
    stop.set()
    for t in threads:
        t.join()
    assert problems == [] and len(bank) == 201
    with pytest.raises(ValueError, match="read-only"):
        bank.snapshot().vectors[0, 0] = 1.0
