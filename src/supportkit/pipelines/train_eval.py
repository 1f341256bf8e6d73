"""Evaluation during training: validation loss, and metrics of generated answers on a small sample.

No logits are accumulated: the loss is a running token-weighted sum, and the answer metrics come
from real generation (greedy) scored with the metric core.
"""

from __future__ import annotations

from typing import Any

from supportkit.config import GenerationConfig
from supportkit.generation import generate_ids
from supportkit.pipelines.loss import token_loss_sum


def validation_loss(
    module: Any, dataloader: Any, *, device: Any, autocast: Any, rank: int, world: int, reduce: Any
) -> float:
    import torch

    total = torch.zeros(2, dtype=torch.float64, device=device)
    module.eval()
    with torch.no_grad():
        for index, batch in enumerate(dataloader):
            if index % world != rank:
                continue
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast():
                loss, n = token_loss_sum(module, batch)
            total += torch.tensor([float(loss), n], dtype=torch.float64, device=device)
    total = reduce(total)
    return float(total[0] / total[1]) if total[1] > 0 else float("nan")


def generated_metrics(
    module: Any, tokenizer: Any, dataloader: Any, *, samples: int, settings: GenerationConfig
) -> dict[str, float]:
    """Mean ROUGE-L and similarity of generated answers on the first ``samples`` validation examples."""
    from supportkit.evaluation.metrics import score

    dataset = getattr(dataloader, "dataset", None)
    examples = [
        e
        for e in getattr(dataset, "examples", [])[:samples]
        if getattr(e, "prompt_ids", None) is not None and getattr(e, "reference", None)
    ]
    if not examples:
        return {}
    was_training = module.training
    module.eval()
    outputs = generate_ids(module, tokenizer, [list(e.prompt_ids) for e in examples], settings)
    module.train(was_training)
    scores = score([o.text for o in outputs], [e.reference for e in examples], ["rougeL", "similarity"])
    return {name: sum(values) / len(values) for name, values in scores.items()}


def evaluation_metrics(
    module: Any, dataloader: Any, accelerator: Any, tokenizer: Any, samples: int, settings: GenerationConfig
) -> dict[str, float]:
    """``val_loss`` over all processes, plus the generated-answer metrics of ``samples`` examples."""
    acc = accelerator
    metrics = {
        "val_loss": validation_loss(
            module,
            dataloader,
            device=acc.device,
            autocast=acc.autocast,
            rank=acc.process_index,
            world=acc.num_processes,
            reduce=lambda x: acc.reduce(x, "sum"),
        )
    }
    if samples:
        metrics.update(
            generated_metrics(
                acc.unwrap_model(module), tokenizer, dataloader, samples=samples, settings=settings
            )
        )
    return metrics
