"""Hybrid retrieval cost of a very long question: 100,000 characters against 20,000 passages.

The index is generated: 2,000 articles of 10 sections, 20,000 passages of 80 words drawn from a
Zipf-distributed vocabulary of 20,000 words (what a support corpus looks like to BM25), with
**synthetic** unit vectors as passage embeddings (the dense half is one matrix-vector product
whatever the vectors hold). The long query is 100,000+ characters drawn from the same distribution
(a pasted log or document); the short one is a support question of a few terms.

*Before* is ``rank-bm25``'s ``get_scores`` on every query token, as hybrid search did: its cost is
one pass over all passages per token, so for the long query it is measured on the first ``sample``
tokens and scaled linearly to the whole query (a full run takes minutes). *After* is
``KnowledgeBase.search`` (BM25 over an inverted index, at most ``knowledge.max_query_terms``
distinct terms, embedded text capped). Without ``--quick`` the MiniLM query embedding of the full
text and of the capped text are timed too (load the model under ``flock /tmp/heavy.lock``).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import fmt_seconds, machine_info, parse_args, round_robin, write_result

NAME = "long_query"
COMMAND = "python -m benchmarks.bench_long_query"
PASSAGES = 20_000
#: Passages per generated article (2,000 articles: 2,000 vector files to write, not 20,000).
SECTIONS = 10
QUERY_CHARS = 100_000
SHORT_QUERY = "refund for a damaged parcel w17 w230 w4100"


class _SyntheticEmbedder:
    """Seeded random unit vectors: stands in for passage embeddings (see the module docstring)."""

    name = "synthetic-random-v1"
    dim = 384

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rng = np.random.default_rng(len(texts))
        v = rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def _texts(rng: np.random.Generator, vocab: list[str], count: int, words: int) -> list[str]:
    p = 1.0 / np.arange(1, len(vocab) + 1)
    drawn = rng.choice(len(vocab), size=count * words, p=p / p.sum())
    return [" ".join(vocab[i] for i in drawn[n * words : (n + 1) * words]) for n in range(count)]


def build(folder: Path) -> tuple[Any, str]:
    """The generated knowledge base (hybrid) and the long query."""
    from supportkit.retrieval.knowledge import KnowledgeBase

    rng = np.random.default_rng(0)
    vocab = ["refund", "parcel", "damaged", "order", "shipping", "account"] + [f"w{i}" for i in range(20_000)]
    source = folder / "articles.jsonl"
    texts = _texts(rng, vocab, PASSAGES, 80)
    with source.open("w", encoding="utf-8") as fh:
        for n in range(0, PASSAGES, SECTIONS):  # one passage per section (each under chunk_chars)
            body = "\n\n".join(f"## Section {k}\n{t}" for k, t in enumerate(texts[n : n + SECTIONS]))
            fh.write(json.dumps({"id": f"a{n}", "title": f"Article {n}", "text": body}) + "\n")
    query = ""
    while len(query) < QUERY_CHARS:
        query += " ".join(_texts(rng, vocab, 1, 2_000)) + " "
    kb = KnowledgeBase(source, embedder=_SyntheticEmbedder(), index_dir=folder / "index", hybrid=True)
    return kb, query


def _per_call(n: int) -> Any:
    def measure(fn: Any) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n

    return measure


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    from supportkit.retrieval.lexical import tokenize
    from supportkit.retrieval.limits import MAX_EMBED_QUERY_CHARS, MAX_QUERY_TERMS

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        kb, query = build(Path(tmp))
        build_s = time.perf_counter() - started
        assert len(kb) == PASSAGES, len(kb)
        rank_bm25 = kb._bm25._bm25  # the library object the old hybrid search called per query
        tokens = tokenize(query)
        sample = 20 if quick else 200
        old_sample = statistics.median(
            _per_call(1)(lambda: rank_bm25.get_scores(tokens[:sample])) for _ in range(1 if quick else 3)
        )
        before_long = old_sample * len(tokens) / sample
        stats = round_robin(
            {
                "after: hybrid search, 100,000-char query": lambda: kb.search(query, k=3),
                "after: hybrid search, support question": lambda: kb.search(SHORT_QUERY, k=3),
                "before: rank-bm25 scores, support question": lambda: rank_bm25.get_scores(
                    tokenize(SHORT_QUERY)
                ),
            },
            baseline="after: hybrid search, support question",
            repeats=repeats or (2 if quick else 5),
            measure=_per_call(1 if quick else 3),
        )
    after_long = stats["after: hybrid search, 100,000-char query"]["value"]["median"]
    after_short = stats["after: hybrid search, support question"]["value"]["median"]
    before_short = stats["before: rank-bm25 scores, support question"]["value"]["median"]
    rows = [
        {
            "query": f"{len(query):,} characters ({len(tokens):,} terms, {len(set(tokens)):,} distinct)",
            "before": f"{fmt_seconds(before_long)} (rank-bm25 scoring alone; {sample} terms timed, scaled)",
            "after": f"{fmt_seconds(after_long)} (whole hybrid search)",
            "before / after": f"{before_long / after_long:,.0f}x",
        },
        {
            "query": f"support question ({len(tokenize(SHORT_QUERY))} terms)",
            "before": f"{fmt_seconds(before_short)} (rank-bm25 scoring alone)",
            "after": f"{fmt_seconds(after_short)} (whole hybrid search)",
            "before / after": f"{before_short / after_short:,.1f}x",
        },
    ]
    notes = [
        f"Index: {PASSAGES:,} generated passages, built in {build_s:.1f} s (synthetic vectors). Query terms "
        f"scored: at most {MAX_QUERY_TERMS} distinct (knowledge.max_query_terms, rarest first); embedded "
        f"text: the first {MAX_EMBED_QUERY_CHARS:,} characters. Below the cap the BM25 scores equal "
        "rank-bm25's (tests/unit/test_retrieval_bounds.py).",
    ]
    if not quick:
        rows.extend(_minilm_rows(query, MAX_EMBED_QUERY_CHARS))
    return {
        "title": "Long questions: hybrid retrieval of a 100,000-character query over 20,000 passages",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "rows": rows,
        "ratio": {
            "label": "100,000-character query, 20,000 passages: before / after",
            "value": f"{before_long / after_long:,.0f}x "
            f"({fmt_seconds(before_long)} -> {fmt_seconds(after_long)})",
        },
        "notes": notes,
        "seconds": {
            "before_long": before_long,
            "after_long": after_long,
            "before_short": before_short,
            "after_short": after_short,
        },
    }


def _minilm_rows(query: str, cap: int) -> list[dict[str, str]]:
    from supportkit.retrieval.embedder import default_embedder

    embedder = default_embedder()
    embedder.embed(["warm up"])
    stats = round_robin(
        {"full": lambda: embedder.embed([query]), "capped": lambda: embedder.embed([query[:cap]])},
        baseline="capped",
        repeats=5,
    )
    full, capped = stats["full"]["value"]["median"], stats["capped"]["value"]["median"]
    same = float(embedder.embed([query])[0] @ embedder.embed([query[:cap]])[0])
    return [
        {
            "query": f"MiniLM query embedding (cosine full vs capped: {same:.4f})",
            "before": f"{fmt_seconds(full)} (whole text)",
            "after": f"{fmt_seconds(capped)} (first {cap:,} characters)",
            "before / after": f"{full / capped:.1f}x",
        }
    ]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or NAME, argv)
    print(write_result(NAME, run(quick=args.quick, repeats=args.repeats), quick=args.quick))


if __name__ == "__main__":
    main()
