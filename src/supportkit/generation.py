"""Turn chat messages into a reply with ``model.generate`` (the one place generation happens).

Prompts are encoded with :func:`supportkit.models.tokenizer.encode_chat`, so text inside messages
can never become special tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from supportkit.config import GenerationConfig
from supportkit.models.tokenizer import encode_chat


@dataclass
class Generated:
    text: str
    prompt_tokens: int
    generated_tokens: int
    #: True when generation stopped at the end-of-turn token (not at max_new_tokens).
    finished: bool


def generation_kwargs(
    settings: GenerationConfig, tokenizer: Any, prompt_width: int | None = None
) -> dict[str, Any]:
    """``model.generate`` keyword arguments. ``prompt_width`` (the padded prompt length) lets the
    repetition penalty skip the prompt (``repetition_penalty_scope: generated``; ``all`` is the default):
    transformers' own ``repetition_penalty`` counts prompt tokens too, which discourages the model
    from repeating the order numbers, article facts and example answers it was given."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": settings.max_new_tokens,
        "min_new_tokens": settings.min_new_tokens or None,
        "do_sample": settings.do_sample,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    penalty = settings.repetition_penalty
    if settings.repetition_penalty_scope == "all" or penalty == 1.0:
        kwargs["repetition_penalty"] = penalty
    else:
        if prompt_width is None:
            raise ValueError("repetition_penalty_scope 'generated' needs the prompt width")
        from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

        kwargs["logits_processor"] = LogitsProcessorList(
            [RepetitionPenaltyLogitsProcessor(penalty, prompt_ignore_length=prompt_width)]
        )
    if settings.do_sample:
        kwargs.update(temperature=settings.temperature, top_p=settings.top_p)
    else:  # silence warnings about sampling settings that greedy decoding ignores
        kwargs.update(temperature=None, top_p=None, top_k=None)
    return kwargs


def generate_chat(
    model: Any,
    tokenizer: Any,
    messages: Sequence[Mapping[str, str]],
    settings: GenerationConfig | None = None,
) -> Generated:
    """Generate the assistant's next turn for ``messages`` (greedy unless settings say otherwise)."""
    ids = encode_chat(tokenizer, messages, add_generation_prompt=True)
    return generate_ids(model, tokenizer, [ids], settings or GenerationConfig())[0]


def generate_ids(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    settings: GenerationConfig,
    *,
    streamer: Any = None,
) -> list[Generated]:
    """Batched generation: left-padded prompts, one ``model.generate`` call, cut at end-of-turn."""
    import torch

    if not prompts:
        return []
    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device
    input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, ids in enumerate(prompts):
        input_ids[row, width - len(ids) :] = torch.tensor(list(ids), dtype=torch.long)
        attention[row, width - len(ids) :] = 1
    if settings.do_sample and settings.seed is not None:
        torch.manual_seed(settings.seed)
    with torch.inference_mode():
        out = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention.to(device),
            streamer=streamer,
            **generation_kwargs(settings, tokenizer, prompt_width=width),
        )
    results = []
    eos = tokenizer.eos_token_id
    for row, ids in enumerate(prompts):
        new = out[row, width:].tolist()
        finished = eos in new
        if finished:
            new = new[: new.index(eos)]
        text = tokenizer.decode(new, skip_special_tokens=True).strip()
        results.append(
            Generated(text=text, prompt_tokens=len(ids), generated_tokens=len(new), finished=finished)
        )
    return results
