"""The training loss: summed token cross-entropy, computed only where there are labels.

Logits are produced only for the (row, position) pairs whose next token is a target: the model
runs with an empty ``logits_to_keep``, and the output layer is applied to the final hidden states
gathered at exactly those pairs. The 49k-way output layer is a large share of a small model's
compute and memory; prompt and padding positions need none of it. (Keeping the union of target
positions over the batch instead still computes logits for every row's prompt and padding inside
that window: in right-padded batches of support chats about twice as many rows.)
"""

from __future__ import annotations

from typing import Any

IGNORE = -100


def output_layer(model: Any) -> Any:
    """The output (LM head) layer of a causal LM, through DDP / peft wrappers."""
    inner = getattr(model, "module", model)  # DistributedDataParallel
    return inner.get_output_embeddings()


def token_loss_sum(
    model: Any, batch: dict[str, Any], *, logits_only_on_labels: bool = True, prefix: int = 0
) -> tuple[Any, int]:
    """(sum of token cross-entropies, number of target tokens) for one micro-batch.

    ``prefix`` is the number of virtual tokens a prompt-tuning model puts before the input.
    """
    import torch
    import torch.nn.functional as F

    labels = batch["labels"]
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    is_target = labels[:, 1:] != IGNORE
    n_targets = int(is_target.sum())
    if logits_only_on_labels and prefix == 0:
        none = torch.empty(0, dtype=torch.long, device=labels.device)
        # hidden_states[-1] is the final (normed) hidden state, the output layer's input
        out = model(**inputs, logits_to_keep=none, output_hidden_states=True)
        logits = output_layer(model)(out.hidden_states[-1][:, :-1][is_target])
        targets = labels[:, 1:][is_target]
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


def virtual_prefix(module: Any) -> int:
    """Virtual tokens prompt tuning puts before the input (their logits are not ours); else 0."""
    peft_config = getattr(module, "peft_config", None)
    if not peft_config:
        return 0
    active = peft_config[module.active_adapter]
    return int(active.num_virtual_tokens) if active.peft_type.value == "PROMPT_TUNING" else 0
