"""data.max_length keeps the final answer and never drops a conversation silently (issue 12 item 10)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from supportkit.config import Config
from supportkit.data.loader import DataLoader
from supportkit.data.readers import read_conversations
from supportkit.data.tokenize import IGNORE, tokenize_conversation
from supportkit.errors import DataError
from supportkit.retrieval.embedder import HashingEmbedder

LONG = "My parcel went missing and I need every detail about the courier, the depot and the route. " * 8


def _trained(tokenizer: Any, ex: Any) -> str:
    return str(tokenizer.decode([t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != IGNORE]))


def test_long_conversation_keeps_its_final_answer_by_dropping_early_turns(smol_tokenizer: Any) -> None:
    final = [{"role": "user", "content": "And the refund?"}, {"role": "assistant", "content": "In 5 days."}]
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": LONG},
        {"role": "assistant", "content": LONG},
        *final,
    ]
    short = tokenize_conversation(smol_tokenizer, [messages[0], *final], max_length=10_000)
    ex = tokenize_conversation(smol_tokenizer, messages, max_length=len(short.input_ids) + 3)
    assert not ex.truncated and ex.dropped_messages == 2
    assert _trained(smol_tokenizer, ex) == "In 5 days.<|im_end|>"
    assert ex.input_ids == short.input_ids  # the system message stays, the early turn goes


def test_dropped_rows_are_reported_by_source(tmp_path: Path, smol_tokenizer: Any, caplog: Any) -> None:
    rows = [{"question": f"Where is order {i}?", "answer": f"Order {i} ships today."} for i in range(10)]
    rows[3]["question"] = LONG * 3
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    conversations, _ = read_conversations(path)
    loader = DataLoader(Config().with_overrides(["data.max_length=256"]), smol_tokenizer)
    with caplog.at_level(logging.WARNING):
        examples, fit = loader.tokenize_report(conversations)
    assert fit.dropped == [f"{path}:4"] and len(examples) == 9 and fit.system_tokens > 0
    assert f"{path}:4" in caplog.text and "data.max_length=256" in caplog.text


def test_all_rows_dropped_is_a_data_error_naming_max_length_and_the_system_prompt(
    tmp_path: Path, smol_tokenizer: Any
) -> None:
    rows = [{"question": f"{LONG} ({i})", "answer": "Sorry to hear that."} for i in range(12)]
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = Config().with_overrides([f"data.train_file={path}", "data.max_length=128"])
    with pytest.raises(DataError) as info:
        DataLoader(config, smol_tokenizer).prepare(embedder=HashingEmbedder())
    message = str(info.value)
    assert "data.max_length=128" in message and "system prompt" in message and f"{path}:" in message
    assert "tokens" in message and "data.add_system_prompt" in message
