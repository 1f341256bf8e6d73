from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportkit.evaluation.sampling import intents_covered, stratified_sample


def _rows(counts: dict[str, int]) -> list[tuple[int, str]]:
    rows: list[tuple[int, str]] = []
    for intent, count in counts.items():  # sorted by intent, as the Bitext file is
        rows += [(len(rows) + i, intent) for i in range(count)]
    return rows


def test_every_intent_is_present_when_n_allows() -> None:
    counts = {f"intent_{i:02d}": 20 + i for i in range(27)}
    rows = _rows(counts)
    sample = stratified_sample(rows, 200, key=lambda r: r[1], seed=0)
    assert len(sample) == 200
    assert len(intents_covered(sample, key=lambda r: r[1])) == 27  # first-200 covered only 8 here
    assert len({r[1] for r in rows[:200]}) < 27
    per = Counter(r[1] for r in sample)
    total = sum(counts.values())
    assert all(abs(per[k] - 200 * counts[k] / total) <= 1.5 for k in counts)  # proportional to size
    assert sample == sorted(sample)  # original order kept


def test_seeded_and_deterministic() -> None:
    rows = _rows({"a": 50, "b": 30, "c": 5})
    one = stratified_sample(rows, 20, key=lambda r: r[1], seed=3)
    assert one == stratified_sample(rows, 20, key=lambda r: r[1], seed=3)
    assert one != stratified_sample(rows, 20, key=lambda r: r[1], seed=4)
    assert Counter(r[1] for r in one) == {"a": 11, "b": 7, "c": 2}


def test_edge_cases() -> None:
    rows = _rows({"a": 3, "b": 3})
    assert stratified_sample(rows, None, key=lambda r: r[1], seed=0) == rows
    assert stratified_sample(rows, 10, key=lambda r: r[1], seed=0) == rows
    assert len(stratified_sample(rows, 1, key=lambda r: r[1], seed=0)) == 1
    with pytest.raises(ValueError, match="at least one"):
        stratified_sample(rows, 0, key=lambda r: r[1], seed=0)


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=12),
    n=st.integers(min_value=1, max_value=200),
    seed=st.integers(min_value=0, max_value=10),
)
def test_sample_size_and_coverage(sizes: list[int], n: int, seed: int) -> None:
    rows = _rows({f"i{k}": s for k, s in enumerate(sizes)})
    sample = stratified_sample(rows, n, key=lambda r: r[1], seed=seed)
    assert len(sample) == min(n, len(rows))
    assert len(set(sample)) == len(sample) and set(sample) <= set(rows)
    if n >= len(sizes):
        assert len({r[1] for r in sample}) == len(sizes)


def test_load_eval_data_limit_is_a_stratified_sample() -> None:
    """The project's conversations file: a limit below the test split keeps every intent."""
    from supportkit.config import Config
    from supportkit.data.project import CONVERSATIONS
    from supportkit.evaluation.compare import load_eval_data

    config = Config().with_overrides([f"data.train_file={CONVERSATIONS}", "data.dedup_threshold=null"])
    full = load_eval_data(config)
    intents = {e.intent for e in full.test}
    limit = len(intents) + 2
    sample = load_eval_data(config, limit=limit).test
    assert len(sample) == limit and {e.intent for e in sample} == intents
    assert sample == load_eval_data(config, limit=limit).test  # seeded
    in_file_order = full.test[:limit]
    assert {e.question for e in sample} <= {e.question for e in full.test}
    assert len({e.intent for e in in_file_order}) < len(intents)  # what the first rows covered
