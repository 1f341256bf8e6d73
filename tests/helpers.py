"""Small helpers shared by tests (no fakes of the things under test)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from supportkit.models.tokenizer import encode_chat
from supportkit.retrieval.embedder import HashingEmbedder


def chat_batch(tokenizer: Any, answers: list[str], question: str = "Where is my order?") -> dict[str, Any]:
    rows = [
        encode_chat(
            tokenizer,
            [{"role": "user", "content": question}, {"role": "assistant", "content": a}],
            add_generation_prompt=False,
        )
        for a in answers
    ]
    batch = tokenizer.pad({"input_ids": rows}, return_tensors="pt", padding_side="right")
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    batch["labels"] = labels
    return dict(batch)


def train_steps(model: Any, batch: dict[str, Any], steps: int = 2, lr: float = 1e-2) -> list[float]:
    """Plain AdamW steps on the trainable parameters of ``model`` (a supportkit model facade)."""
    params = [p for p in model.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


def logits(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()


class CountingEmbedder(HashingEmbedder):
    """A real (hashing) embedder that also counts the texts it embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += len(texts)
        return super().embed(texts)
