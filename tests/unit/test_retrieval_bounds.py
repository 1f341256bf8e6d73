"""Retrieval under hostile input: bounded query cost (12.15) and index files it does not own (12.16)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from supportkit.retrieval.embedder import HashingEmbedder
from supportkit.retrieval.knowledge import KnowledgeBase
from supportkit.retrieval.lexical import BM25Scorer, tokenize
from supportkit.retrieval.limits import MAX_EMBED_QUERY_CHARS, MAX_QUERY_TERMS, embedding_query
from tests.helpers import CountingEmbedder

WORDS = [f"term{i}" for i in range(3000)]


def _corpus(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    # Zipf-like word frequencies: a few common words, a long tail of rare ones.
    p = 1.0 / np.arange(1, len(WORDS) + 1)
    p /= p.sum()
    return [" ".join(rng.choice(WORDS, size=40, p=p)) for _ in range(n)]


def test_bm25_equals_rank_bm25_below_the_cap() -> None:
    docs = [*_corpus(300), "", "refund refund refunds", "the and of"]
    scorer = BM25Scorer(docs)
    for query in ["term1 term2 term2 term900", "refunds refund term5", "nothing matches here", "the of", ""]:
        expected = scorer._bm25.get_scores(tokenize(query))
        np.testing.assert_allclose(scorer.scores(query), expected, rtol=1e-6, atol=1e-9)


def test_long_queries_score_a_bounded_number_of_the_most_informative_terms() -> None:
    docs = _corpus(2000)
    scorer = BM25Scorer(docs)
    query = " ".join(np.random.default_rng(1).choice(WORDS, size=15_000))  # ~100,000 characters
    assert len(query) >= 100_000
    terms = scorer.query_terms(query)
    assert len(terms) == MAX_QUERY_TERMS
    idf = scorer._bm25.idf
    known = {t for t in tokenize(query) if t in idf}
    weakest_kept = min(idf[t] for t in terms)
    assert all(idf[t] <= weakest_kept for t in known - set(terms))  # nothing rarer was dropped
    started = time.perf_counter()
    scores = scorer.normalised_scores(query)
    assert time.perf_counter() - started < 2.0  # uncapped, rank-bm25 takes tens of seconds here
    assert scores.shape == (2000,) and float(scores.max()) == pytest.approx(1.0)
    uncapped = BM25Scorer(docs[:50], max_query_terms=None)
    assert len(uncapped.query_terms(query)) > MAX_QUERY_TERMS
    with pytest.raises(ValueError, match="max_query_terms"):
        BM25Scorer(docs[:5], max_query_terms=0)


def _kb(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(f"# {name.title()}\n\n{text}\n", encoding="utf-8")
    return folder


def test_hybrid_search_with_a_huge_query_is_fast_and_embeds_a_bounded_text(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    for n, text in enumerate(_corpus(200)):
        _kb(folder, f"a{n}", text)
    kb = KnowledgeBase(folder, embedder=HashingEmbedder(), index_dir=tmp_path / "i", hybrid=True)
    query = "refund for my parcel " + " ".join(np.random.default_rng(2).choice(WORDS, size=15_000))
    started = time.perf_counter()
    hits = kb.search(query, k=3)
    assert time.perf_counter() - started < 5.0
    assert len(hits) == 3
    # The dense half sees only the first MAX_EMBED_QUERY_CHARS characters: the same ranking results.
    assert len(embedding_query(query)) == MAX_EMBED_QUERY_CHARS
    head = kb.embedder.embed([query[:MAX_EMBED_QUERY_CHARS]])[0]
    assert [h.passage.id for h in kb.search(query, k=3, query_vector=head)] == [h.passage.id for h in hits]


def test_hybrid_top_k_matches_a_full_sort(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    for n, text in enumerate(_corpus(60)):
        _kb(folder, f"a{n}", text)
    kb = KnowledgeBase(folder, embedder=HashingEmbedder(), index_dir=tmp_path / "i", hybrid=True)
    query = "term3 term17 term250"
    q = kb.embedder.embed([query])[0]
    sims = kb.vectors @ q
    fused = 0.8 * sims + 0.2 * kb._bm25.normalised_scores(query)  # type: ignore[union-attr]
    order = [i for i in np.argsort(-fused, kind="stable") if sims[i] >= 0.05][:5]
    assert [h.passage.id for h in kb.search(query, k=5, min_similarity=0.05)] == [
        kb.passages[i].id for i in order
    ]


def test_index_dir_never_deletes_files_it_did_not_write(tmp_path: Path) -> None:
    index = tmp_path / "shared-cache"
    index.mkdir()
    foreign = index / "weights.npy"  # somebody else's array in the same folder
    np.save(foreign, np.arange(3))
    (index / "notes.txt").write_text("keep me")
    kb_dir = _kb(tmp_path / "kb", "returns", "Return items within 30 days.")
    _kb(kb_dir, "shipping", "Express shipping costs $9.99.")
    KnowledgeBase(kb_dir, embedder=HashingEmbedder(), index_dir=index, hybrid=False)
    (kb_dir / "shipping.md").unlink()
    kb = KnowledgeBase(kb_dir, embedder=HashingEmbedder(), index_dir=index, hybrid=False)
    assert foreign.exists() and (index / "notes.txt").exists()
    np.testing.assert_array_equal(np.load(foreign), np.arange(3))
    manifest = json.loads(kb.manifest_path.read_text())
    own = set(manifest["files"])
    assert len(own) == 1 and {p.name for p in index.glob("*.npy")} == own | {"weights.npy"}  # stale one gone
    assert not [p for p in index.iterdir() if ".tmp-" in p.name]  # atomic writes leave no temporaries


def test_two_knowledge_bases_sharing_a_folder_keep_each_others_vectors(tmp_path: Path) -> None:
    index = tmp_path / "index"
    billing = _kb(tmp_path / "billing", "refunds", "Refunds take 5 days.")
    shipping = _kb(tmp_path / "shipping", "express", "Express shipping costs $9.99.")
    _kb(shipping, "refunds", "Refunds take 5 days.")  # same article in both: one shared file
    for source in (billing, shipping):
        KnowledgeBase(source, embedder=CountingEmbedder(), index_dir=index, hybrid=False)
    (shipping / "refunds.md").unlink()  # shipping drops the shared article: billing still needs it
    KnowledgeBase(shipping, embedder=CountingEmbedder(), index_dir=index, hybrid=False)
    for source in (billing, shipping, billing):
        embedder = CountingEmbedder()
        kb = KnowledgeBase(source, embedder=embedder, index_dir=index, hybrid=False)
        assert embedder.embedded == 0 and kb.stats.reused_articles == 1, source
    assert len(list(index.glob(".manifest-*.json"))) == 2


def test_knowledge_from_settings_applies_the_query_cap(tmp_path: Path) -> None:
    from supportkit.config import Config, KnowledgeConfig
    from supportkit.errors import ConfigError

    folder = _kb(tmp_path / "kb", "returns", "Return items within 30 days.")
    settings = KnowledgeConfig(path=str(folder), index_dir=str(tmp_path / "i"), max_query_terms=3)
    kb = KnowledgeBase.from_settings(settings, embedder=HashingEmbedder())
    assert kb._bm25 is not None and kb._bm25.max_query_terms == 3
    assert len(kb._bm25.query_terms("return items within thirty days please")) == 3
    with pytest.raises(ConfigError, match="max_query_terms"):
        Config(knowledge=KnowledgeConfig(max_query_terms=0)).validate()
