"""Chat-format tokenization for training: labels on assistant tokens only, end-of-turn included.

The conversation is rendered with the tokenizer's own chat template; template markup is encoded
as special tokens and message contents as untrusted text (``encode_chat``'s rule). Every token of
an assistant message gets a label, and so does the end-of-turn token that closes it: without it the
tuned model never learns to stop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from supportkit.models.tokenizer import chat_segments, encode_trusted, encode_untrusted

IGNORE = -100


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False
    #: The conversation up to the final answer, ready for generation (for evaluation).
    prompt_ids: tuple[int, ...] | None = None
    #: The final answer (the reference for generated-answer metrics).
    reference: str | None = None

    @property
    def target_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def tokenize_conversation(
    tokenizer: Any, messages: Sequence[Mapping[str, str]], *, max_length: int
) -> TokenizedExample:
    ids: list[int] = []
    labels: list[int] = []
    eos = tokenizer.eos_token_id
    roles = [m["role"] for m in messages]
    after_assistant = False
    for kind, text, index in chat_segments(tokenizer, messages, add_generation_prompt=False):
        if kind == "content":
            piece = encode_untrusted(tokenizer, text)
            trained = roles[index] == "assistant"
            ids.extend(piece)
            labels.extend(piece if trained else [IGNORE] * len(piece))
            after_assistant = trained
            continue
        piece = encode_trusted(tokenizer, text)
        if after_assistant and eos in piece:
            cut = piece.index(eos) + 1  # the end-of-turn token is a target, the rest of the markup is not
            labels.extend(piece[:cut] + [IGNORE] * (len(piece) - cut))
        else:
            labels.extend([IGNORE] * len(piece))
        ids.extend(piece)
        after_assistant = False
    truncated = len(ids) > max_length
    return TokenizedExample(ids[:max_length], labels[:max_length], truncated)
