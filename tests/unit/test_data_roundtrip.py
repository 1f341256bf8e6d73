"""Property: generated rows survive write -> read in every supported format and the few-shot bank.

Text is random Unicode plus the characters that break naive readers: line and paragraph
separators, NEL, BOMs, quotes, delimiters, CR/LF, NUL and other control characters. The readers'
one normalisation is documented: question and answer are stripped of surrounding whitespace.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datasets
from supportkit.data.readers import Conversation, read_conversations
from supportkit.data.writers import write_conversations
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import HashingEmbedder

datasets.disable_progress_bars()

TRICKY = ["\u2028", "\u2029", "\x85", "\ufeff", "\r", "\n", "\r\n", '"', "'", ",", ";", "\t", "|", "\x00",
          "\x0b", "\x0c", "\x1c", "\x1e", "\\", "{", "}", "é", "中文", "Ж", "\U0001f600"]  # fmt: skip
TEXT = st.lists(
    st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=8), st.sampled_from(TRICKY)),
    min_size=1,
    max_size=6,
).map("".join)
CONTENT = TEXT.filter(lambda s: s.strip() != "").map(str.strip)
LABEL = st.one_of(st.none(), TEXT.filter(lambda s: s != ""))


@st.composite
def conversations(draw: st.DrawFn, multi_turn: bool) -> Conversation:
    turns = draw(st.integers(1, 3)) if multi_turn else 1
    messages: list[dict[str, str]] = []
    if multi_turn and draw(st.booleans()):
        messages.append({"role": "system", "content": draw(CONTENT)})
    for _ in range(turns):
        messages.append({"role": "user", "content": draw(CONTENT)})
        messages.append({"role": "assistant", "content": draw(CONTENT)})
    return Conversation(tuple(messages), draw(LABEL), draw(LABEL), draw(LABEL))


def _roundtrip(rows: list[Conversation], name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_conversations(rows, Path(tmp) / name)
        back, report = read_conversations(path)
    assert report.skipped == 0
    assert [(c.messages, c.intent, c.category, c.tags) for c in back] == [
        (c.messages, c.intent, c.category, c.tags) for c in rows
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(conversations(multi_turn=False), min_size=1, max_size=5), st.sampled_from([".csv", ".tsv"]))
def test_pairs_round_trip_through_csv_and_tsv(rows: list[Conversation], suffix: str) -> None:
    _roundtrip(rows, "data" + suffix)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(conversations(multi_turn=True), min_size=1, max_size=5), st.sampled_from([".jsonl", ".json"]))
def test_conversations_round_trip_through_json_and_jsonl(rows: list[Conversation], suffix: str) -> None:
    _roundtrip(rows, "data" + suffix)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(conversations(multi_turn=True), min_size=1, max_size=4))
def test_conversations_round_trip_through_a_datasets_directory(rows: list[Conversation]) -> None:
    _roundtrip(rows, "dataset")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(CONTENT, CONTENT, st.one_of(st.none(), CONTENT)), min_size=1, max_size=4))
def test_few_shot_bank_file_reopens_with_every_example(examples: list[tuple[str, str, str | None]]) -> None:
    embedder = HashingEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bank.jsonl"
        bank = ExampleBank(path, embedder=embedder)
        for question, answer, intent in examples:
            bank.add(question, answer, intent)
        reopened = ExampleBank(path, embedder=embedder).snapshot().examples
    assert [(e.question, e.answer, e.intent) for e in reopened] == examples
