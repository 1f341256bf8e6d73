"""Data: readers and their errors, PII redaction, splits, chat tokenization and labels, batches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from supportkit.config import Config
from supportkit.data.loader import DataLoader, SeededBatchSampler, collate
from supportkit.data.readers import read_conversations
from supportkit.data.splits import split_conversations
from supportkit.data.tokenize import IGNORE, tokenize_conversation
from supportkit.errors import ConfigError, DataError
from supportkit.privacy.pii import luhn_valid, redact
from supportkit.retrieval.embedder import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "data" / "store" / "conversations.jsonl"
BITEXT = ROOT.parent / "shared" / "data" / "bitext-customer-support" / "bitext_customer_support_6480.csv"


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_every_format_reads(tmp_path: Path) -> None:
    chat = _write(
        tmp_path,
        "c.jsonl",
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "s"},
                    {"role": "user", "content": "q1"},
                    {"role": "assistant", "content": "a1"},
                    {"role": "user", "content": "q2"},
                    {"role": "assistant", "content": "a2"},
                ],
                "intent": "x",
            }
        )
        + "\n",
    )
    pc = _write(tmp_path, "p.jsonl", '{"prompt": "q", "completion": "a"}\n')
    ir = _write(
        tmp_path,
        "i.json",
        json.dumps([{"instruction": "q", "response": "a", "intent": "i", "category": "C", "tags": "T"}]),
    )
    csv = _write(tmp_path, "m.csv", "Frage,Antwort,Absicht\nwo ist es,hier,track\n")
    (c,), _ = read_conversations(chat)
    assert c.question == "q2" and c.answer == "a2" and len(c.messages) == 5 and c.intent == "x"
    (p,), _ = read_conversations(pc)
    assert p.messages == ({"role": "user", "content": "q"}, {"role": "assistant", "content": "a"})
    (i,), _ = read_conversations(ir)
    assert (i.intent, i.category, i.tags) == ("i", "C", "T")
    (m,), _ = read_conversations(
        csv, column_mapping={"Frage": "instruction", "Antwort": "response", "Absicht": "intent"}
    )
    assert (m.question, m.answer, m.intent) == ("wo ist es", "hier", "track")


def test_datasets_save_to_disk_directory_reads(tmp_path: Path) -> None:
    import datasets

    datasets.Dataset.from_list([{"instruction": "q", "response": "a"}]).save_to_disk(str(tmp_path / "ds"))
    (c,), _ = read_conversations(tmp_path / "ds")
    assert c.answer == "a"


@pytest.mark.skipif(not BITEXT.is_file(), reason="the shared Bitext sample is not present on this machine")
def test_bitext_csv_reads_without_mapping() -> None:
    conversations, report = read_conversations(BITEXT)
    assert len(conversations) == 6480 and report.skipped == 0
    assert conversations[0].intent == "cancel_order" and conversations[0].category == "ORDER"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"question": "q", "answer": "a"}\n{"question": "q"\n', r"bad.jsonl:2: bad JSON"),
        ('{"question": "q", "answer": "a"}\n\n{"question": "q"}\n', r"bad.jsonl:3: missing or empty answer"),
        ('{"question": "q", "answer": "   "}\n', r"bad.jsonl:1: missing or empty answer"),
        (
            '{"messages": [{"role": "user", "content": "q"}]}\n',
            r"bad.jsonl:1: the last message must be the assistant",
        ),
        ('{"messages": [{"role": "robot", "content": "q"}]}\n', r"bad.jsonl:1: message 0 needs a role"),
        ("[1, 2]\n", r"bad.jsonl:1: expected an object"),
    ],
)
def test_malformed_rows_are_reported_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, "bad.jsonl", text)
    with pytest.raises(DataError, match=message):
        read_conversations(path)


def test_non_utf8_is_reported_and_skip_mode_counts(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "bad.jsonl",
        b'{"question": "q", "answer": "a"}\n'
        b'{"question": "caf\xe9", "answer": "a"}\n'
        b'{"question": "x", "answer": "y"}\n',
    )
    with pytest.raises(DataError, match=r"bad.jsonl:2: not valid UTF-8"):
        read_conversations(path)
    rows, report = read_conversations(path, on_error="skip")
    assert (
        [r.question for r in rows] == ["q", "x"] and report.skipped == 1 and "bad.jsonl:2" in report.errors[0]
    )


def test_pii_redaction() -> None:
    text = (
        "Mail jane.doe@example.com or call +1 (555) 123-4567; card 4111 1111 1111 1111, "
        "order BC-12345, not 1234 5678 9012 3456."
    )
    out = redact(text)
    assert "[EMAIL]" in out and "[PHONE]" in out and "[CARD]" in out
    assert "BC-12345" in out and "1234 5678 9012 3456" in out  # not Luhn-valid: kept
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_splits_are_seeded_stratified_and_deduplicated() -> None:
    conversations, _ = read_conversations(DATASET)
    kwargs: dict[str, Any] = {
        "fractions": (0.8, 0.1, 0.1),
        "seed": 3,
        "embedder": HashingEmbedder(),
        "dedup_threshold": 0.95,
    }
    a, b = split_conversations(conversations, **kwargs), split_conversations(conversations, **kwargs)
    assert a.sizes() == b.sizes() and [c.source for c in a.test] == [c.source for c in b.test]
    assert sum(a.sizes().values()) == len(conversations)
    assert abs(a.sizes()["train"] - 0.8 * len(conversations)) < 0.05 * len(conversations)
    assert {c.intent for c in a.train} == {c.intent for c in conversations}  # every intent in train
    embedder = HashingEmbedder()
    train_vectors = embedder.embed([c.question for c in a.train])
    for other in (a.validation, a.test):
        vectors = embedder.embed([c.question for c in other])
        assert (vectors @ train_vectors.T).max() <= 0.95 + 1e-6  # no near-twin across splits
    assert a.duplicate_groups > 0


def test_leave_intents_out_puts_whole_intents_in_test() -> None:
    conversations, _ = read_conversations(DATASET)
    s = split_conversations(
        conversations, leave_out_intents=["price_match", "warranty_claim"], dedup_threshold=None
    )
    assert {c.intent for c in s.test} == {"price_match", "warranty_claim"}
    assert not {"price_match", "warranty_claim"} & {c.intent for c in s.train + s.validation}
    with pytest.raises(ConfigError, match="not in the data: teleport"):
        split_conversations(conversations, leave_out_intents=["teleport"])


def test_labels_cover_assistant_tokens_and_end_of_turn(smol_tokenizer: Any) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is BC-12345?"},
        {"role": "assistant", "content": "It ships today."},
        {"role": "user", "content": "<|im_end|>thanks"},
        {"role": "assistant", "content": "You're welcome!"},
    ]
    ex = tokenize_conversation(smol_tokenizer, messages, max_length=512)
    trained = smol_tokenizer.decode(
        [t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != IGNORE]
    )
    assert trained == "It ships today.<|im_end|>You're welcome!<|im_end|>"
    # One end-of-turn per message; the one the customer typed stays plain text.
    assert ex.input_ids.count(smol_tokenizer.eos_token_id) == len(messages)
    short = tokenize_conversation(smol_tokenizer, messages, max_length=20)
    assert short.truncated and len(short.input_ids) == 20


def test_collate_pads_right_and_masks_labels() -> None:
    from supportkit.data.tokenize import TokenizedExample

    batch = collate([TokenizedExample([5, 6, 7], [IGNORE, 6, 7]), TokenizedExample([8], [8])], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [8, IGNORE, IGNORE]]


def test_batch_order_is_seeded_length_grouped_and_complete() -> None:
    lengths = [(i * 37) % 101 + 1 for i in range(300)]
    sampler = SeededBatchSampler(lengths, 8, seed=1)
    first = sampler.batches()
    assert first == SeededBatchSampler(lengths, 8, seed=1).batches()
    assert sorted(i for b in first for i in b) == list(range(300))
    sampler.set_epoch(1)
    assert sampler.batches() != first
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first) / len(first)
    assert spread < 10  # similar lengths batched together


def test_overview_create_dataloader(smol_tokenizer: Any, caplog: pytest.LogCaptureFixture) -> None:
    import torch

    loader = DataLoader(Config().with_overrides(["training.batch_size=2"]), smol_tokenizer)
    ids = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]])
    mask = (ids != 0).long()
    batches = list(loader.create_dataloader(ids, mask, shuffle=False))
    assert "prompt tokens are trained too" in caplog.text
    assert batches[0]["labels"].tolist() == [[1, 2, 3], [4, 5, IGNORE]]
    assert sum(len(b["input_ids"]) for b in batches) == 3


def test_file_to_dataloaders_with_assistant_only_labels(smol_tokenizer: Any) -> None:
    config = Config().with_overrides([f"data.train_file={DATASET}", "training.batch_size=4"])
    data = DataLoader(config, smol_tokenizer).prepare(embedder=HashingEmbedder())
    train, val = DataLoader(config, smol_tokenizer).dataloaders_for(data)
    batch = next(iter(train))
    labelled = batch["labels"] != IGNORE
    assert labelled.any() and (labelled.sum(dim=1) < batch["attention_mask"].sum(dim=1)).all()
    assert len(train) == -(-len(data.train) // 4) and val is not None
    first = data.train[0]
    assert (
        first.prompt_ids is not None
        and first.reference
        and first.input_ids[: len(first.prompt_ids)] == list(first.prompt_ids)
    )
