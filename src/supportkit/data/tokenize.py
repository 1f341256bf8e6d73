"""Chat-format tokenization for training: labels on assistant tokens only, end-of-turn included.

The conversation is rendered with the tokenizer's own chat template; template markup is encoded
as special tokens and message contents as untrusted text (``encode_chat``'s rule). Every token of
an assistant message gets a label, and so does the end-of-turn token that closes it: without it the
tuned model never learns to stop.

A conversation longer than ``max_length`` keeps its final answer, which is what evaluation asks
about: whole early turns are dropped (system message kept) until it fits; only when even the last
question and answer do not fit is the sequence cut at ``max_length``, and when not one token of the
final answer is left the example has no target and is reported as dropped by the loader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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
    #: Early messages dropped so that the final answer fits in ``max_length``.
    dropped_messages: int = 0
    #: Tokens of the final answer (end-of-turn included) that are labelled (0: the answer was cut off).
    answer_tokens: int = 0

    @property
    def target_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def tokenize_conversation(
    tokenizer: Any, messages: Sequence[Mapping[str, str]], *, max_length: int
) -> TokenizedExample:
    """Token ids and labels (assistant tokens and their end-of-turn; ``IGNORE`` elsewhere).

    Over ``max_length`` tokens, the earliest turns are dropped (a conversation always restarts at a
    user message, the system message stays) until the rest fits; if even the final question and
    answer do not fit, they are cut at ``max_length`` (``truncated``).
    """
    full = _encode(tokenizer, messages, max_length)
    if not full.truncated:
        return full
    system = [m for m in messages[:1] if m["role"] == "system"]
    rest = list(messages[len(system) :])
    starts = [i for i, m in enumerate(rest) if m["role"] == "user" and i > 0]
    example = full
    for start in starts:  # drop ever more early turns
        example = _encode(tokenizer, system + rest[start:], max_length)
        example = replace(example, dropped_messages=start)
        if not example.truncated:
            return example
    return example


def _encode(tokenizer: Any, messages: Sequence[Mapping[str, str]], max_length: int) -> TokenizedExample:
    ids: list[int] = []
    labels: list[int] = []
    eos = tokenizer.eos_token_id
    roles = [m["role"] for m in messages]
    after_assistant = False
    answer_start = None
    for kind, text, index in chat_segments(tokenizer, messages, add_generation_prompt=False):
        if kind == "content":
            if index == len(messages) - 1:
                answer_start = len(ids)
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
    answer = 0 if answer_start is None else sum(1 for t in labels[answer_start:max_length] if t != IGNORE)
    return TokenizedExample(ids[:max_length], labels[:max_length], truncated, answer_tokens=answer)


def kept_messages(
    messages: Sequence[Mapping[str, str]], example: TokenizedExample
) -> list[Mapping[str, str]]:
    """The messages ``example`` was built from (early turns it dropped left out)."""
    if not example.dropped_messages:
        return list(messages)
    system = [m for m in messages[:1] if m["role"] == "system"]
    return system + list(messages[len(system) + example.dropped_messages :])
