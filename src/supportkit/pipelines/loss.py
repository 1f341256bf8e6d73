"""The training loss: summed token cross-entropy, computed only where there are labels.

Logits are produced only at positions whose next token is a target (``logits_to_keep`` with the
union of those positions over the batch): the 49k-way output layer is a large share of a small
model's compute and memory, and prompt positions need none of it.
"""

from __future__ import annotations

from typing import Any

IGNORE = -100


def target_positions(labels: Any) -> Any:
    """Positions t whose logits predict a labelled token t + 1 (union over the batch)."""
    import torch

    has_target = (labels[:, 1:] != IGNORE).any(dim=0)
    return torch.nonzero(has_target, as_tuple=False).flatten()


def token_loss_sum(
    model: Any, batch: dict[str, Any], *, logits_only_on_labels: bool = True, prefix: int = 0
) -> tuple[Any, int]:
    """(sum of token cross-entropies, number of target tokens) for one micro-batch.

    ``prefix`` is the number of virtual tokens a prompt-tuning model puts before the input.
    """
    import torch.nn.functional as F

    labels = batch["labels"]
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    n_targets = int((labels[:, 1:] != IGNORE).sum())
    if logits_only_on_labels and prefix == 0:
        keep = target_positions(labels)
        logits = model(**inputs, logits_to_keep=keep).logits
        targets = labels[:, keep + 1]
    else:
        logits = model(**inputs).logits[:, prefix:-1]
        targets = labels[:, 1:]
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return loss, n_targets
