"""The content-keyed embedding cache: each distinct text embedded once, shared by every step of a
comparison (split dedup, few-shot bank, intent accuracy), persisted across processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from supportkit.data.splits import near_duplicate_groups
from supportkit.evaluation.compare import train_bank
from supportkit.evaluation.evaluator import AnswerIntent
from supportkit.retrieval.embedder import HashingEmbedder, default_embedder
from supportkit.retrieval.embedding_cache import CachedEmbedder
from tests.helpers import CountingEmbedder
from tests.unit.test_evaluation import EXAMPLES, TRAIN


def test_each_distinct_text_is_embedded_once_and_vectors_are_the_inner_ones() -> None:
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner)
    texts = ["refund?", "invoice", "refund?"]
    first = cached.embed(texts)
    assert inner.embedded == 2 and first.shape == (3, inner.dim) and first.dtype == np.float32
    np.testing.assert_array_equal(first, HashingEmbedder().embed(texts))
    again = cached.embed(["invoice", "refund?"])
    assert inner.embedded == 2
    np.testing.assert_array_equal(again, first[[1, 0]])
    assert cached.embed([]).shape == (0, inner.dim)
    assert (cached.name, cached.dim) == (inner.name, inner.dim)


def test_the_steps_of_a_comparison_share_one_cache() -> None:
    """Split dedup, the few-shot bank and intent accuracy (twice, as two systems do) embed each
    distinct text once between them."""
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner)
    questions = [e.question for e in TRAIN + EXAMPLES]
    near_duplicate_groups(questions, cached, 0.95)
    near_duplicate_groups(questions, cached, 0.95)  # a second method's data preparation
    train_bank(TRAIN, cached)
    for _ in range(2):
        AnswerIntent(TRAIN, cached).predict([e.reference for e in EXAMPLES])
    distinct = set(questions) | {e.reference for e in TRAIN + EXAMPLES}
    assert inner.embedded == len(distinct)


def test_vectors_persist_across_instances_and_embedders_are_not_mixed(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "texts.sqlite"
    CachedEmbedder(CountingEmbedder(), path=path).embed(["a question", "another"])
    inner = CountingEmbedder()
    reopened = CachedEmbedder(inner, path=path)
    np.testing.assert_array_equal(reopened.embed(["another"]), HashingEmbedder().embed(["another"]))
    assert inner.embedded == 0
    other = CountingEmbedder()
    other.name = "hashing-other"
    CachedEmbedder(other, path=path).embed(["another"])
    assert other.embedded == 1  # another vector space: never reused
    assert b"another" not in path.read_bytes()  # keys are digests, texts are not stored


def test_single_text_calls_stay_in_memory(tmp_path: Path) -> None:
    """A server embeds one query at a time: those are cached in memory, never written to disk."""
    path = tmp_path / "texts.sqlite"
    CachedEmbedder(CountingEmbedder(), path=path).embed(["one query"])
    inner = CountingEmbedder()
    CachedEmbedder(inner, path=path).embed(["one query"])
    assert inner.embedded == 1


def test_an_unusable_cache_file_falls_back_to_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, path=blocker / "texts.sqlite")
    cached.embed(["q", "q"])
    cached.embed(["q"])
    assert inner.embedded == 1 and "kept in memory only" in caplog.text


def test_memory_is_bounded_and_capacity_checked() -> None:
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, capacity=2)
    cached.embed(["a", "b", "c"])
    assert len(cached) == 2
    cached.embed(["a"])  # evicted: embedded again
    assert inner.embedded == 4
    with pytest.raises(ValueError, match="at least 1"):
        CachedEmbedder(inner, capacity=0)


def test_the_default_embedder_is_cached() -> None:
    assert isinstance(default_embedder(), CachedEmbedder)
