"""Logits processing and stopping for the ``hf`` engine: a repetition penalty that never penalises
stop tokens, and per-row stopping (stop texts, cancel flags)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Token ids that end or pad a turn: eos, pad and ``<|im_end|>``/``<|endoftext|>`` when known."""
    ids = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    ids |= {vocab.get(t) for t in ("<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>")}
    return sorted(i for i in ids if isinstance(i, int))


def stop_token_safe_penalty(penalty: float, prompt_width: int, exempt: Sequence[int]) -> Any:
    """A :class:`StopTokenSafeRepetitionPenalty` (imported lazily: transformers is heavy)."""
    from transformers import LogitsProcessor

    class StopTokenSafeRepetitionPenalty(LogitsProcessor):
        """transformers' repetition penalty (divide positive logits, multiply negative ones, once
        per distinct earlier token), counting tokens from position ``prompt_width`` on (0: the
        prompt too) and leaving the ``exempt`` (stop) tokens' logits untouched.

        Shapes: ``input_ids`` ``[batch, length]``, ``scores`` ``[batch, vocab]`` (returned).
        """

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            import torch

            seen = input_ids[:, prompt_width:]
            if seen.shape[1] == 0:
                return scores
            picked = torch.gather(scores, 1, seen)
            picked = torch.where(picked < 0, picked * penalty, picked / penalty)
            out = scores.scatter(1, seen, picked)
            if exempt:
                keep = torch.tensor(list(exempt), device=scores.device)
                out[:, keep] = scores[:, keep]
            return out

    return StopTokenSafeRepetitionPenalty()


class RowStops:
    """A ``StoppingCriteria``: one flag per row, true once the row's cancel flag is set or its
    generated text contains one of its stop texts.

    Args:
        tokenizer: decodes the generated part of a row.
        prompt_width: where generated tokens start in ``input_ids`` (``[batch, length]``).
        stops: stop texts per row.
        cancels: cancel flags per row (``None``: never cancelled).
    """

    def __init__(
        self,
        tokenizer: Any,
        prompt_width: int,
        stops: Sequence[Sequence[str]],
        cancels: Sequence[threading.Event | None],
    ) -> None:
        self.tokenizer, self.width, self.stops, self.cancels = tokenizer, prompt_width, stops, cancels

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for row in range(input_ids.shape[0]):
            cancel = self.cancels[row]
            if cancel is not None and cancel.is_set():
                done[row] = True
            elif self.stops[row]:
                tail = self.tokenizer.decode(input_ids[row, self.width :], skip_special_tokens=True)
                done[row] = any(s in tail for s in self.stops[row])
        return done
