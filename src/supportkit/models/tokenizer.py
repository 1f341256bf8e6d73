"""Tokenizer repair and the one safe way to encode text that came from a user.

Chat templates mark turns with special tokens such as ``<|im_start|>``. A customer who types that
string must not be able to open a new turn (prompt injection at the token level), so every piece of
user or customer text is encoded with :func:`encode_untrusted`, which tokenizes special-token
strings as plain text, and whole conversations with :func:`encode_chat`, which encodes the
template's own markup as special tokens and the message contents as untrusted text.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from supportkit.errors import ModelLoadError

Message = Mapping[str, str]

_untrusted_backends: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def fix_tokenizer(
    tokenizer: Any,
    *,
    eos_token: str | None = None,
    pad_token: str | None = None,
    add_bos_token: bool | None = None,
    model_max_length: int | None = None,
) -> Any:
    """Repair special tokens in place without ever adding tokens (no vocabulary resize).

    ``eos_token`` and ``pad_token`` must already be in the vocabulary: resizing the embedding
    matrix would change the base model and break loading adapters trained elsewhere.
    """
    vocab = tokenizer.get_vocab()
    for name, token in (("eos_token", eos_token), ("pad_token", pad_token)):
        if token is None:
            continue
        if token not in vocab:
            raise ModelLoadError(
                f"cannot use {token!r} as {name}: it is not in the vocabulary "
                "(adding tokens would resize the model, which supportkit never does)"
            )
        setattr(tokenizer, name, token)
    if add_bos_token is not None:
        if hasattr(tokenizer, "add_bos_token"):
            tokenizer.add_bos_token = add_bos_token  # fast Llama tokenizers rebuild their post-processor
        tokenizer.init_kwargs["add_bos_token"] = add_bos_token
    if model_max_length is not None:
        tokenizer.model_max_length = model_max_length
        tokenizer.init_kwargs["model_max_length"] = model_max_length
    return tokenizer


def choose_pad_token(tokenizer: Any) -> str | None:
    """An existing special token to pad with that is not the end-of-turn token."""
    if tokenizer.pad_token is not None and tokenizer.pad_token != tokenizer.eos_token:
        return str(tokenizer.pad_token)
    for candidate in ("<|endoftext|>", "<pad>", "<|pad|>", tokenizer.unk_token):
        if candidate and candidate in tokenizer.get_vocab() and candidate != tokenizer.eos_token:
            return str(candidate)
    return str(tokenizer.eos_token) if tokenizer.eos_token else None


def _untrusted_backend(tokenizer: Any) -> Any:
    backend = _untrusted_backends.get(tokenizer)
    if backend is None:
        from tokenizers import Tokenizer

        # A private copy: flipping the flag on the shared backend would race with other threads.
        backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        backend.encode_special_tokens = True
        backend.no_padding()
        backend.no_truncation()
        _untrusted_backends[tokenizer] = backend
    return backend


def encode_untrusted(tokenizer: Any, text: str) -> list[int]:
    """Token ids for user text, with special-token strings kept as plain text."""
    if not isinstance(text, str):
        raise TypeError(f"expected text, got {type(text).__name__}")
    if not text:
        return []
    if getattr(tokenizer, "is_fast", False):
        return list(_untrusted_backend(tokenizer).encode(text, add_special_tokens=False).ids)
    return list(tokenizer(text, add_special_tokens=False, split_special_tokens=True).input_ids)


def encode_trusted(tokenizer: Any, text: str) -> list[int]:
    """Token ids for the project's own markup (chat-template text): special tokens are honoured."""
    if not text:
        return []
    return list(tokenizer(text, add_special_tokens=False).input_ids)


def render_chat(tokenizer: Any, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
    """The chat template's text for ``messages`` (for display and logging)."""
    return str(
        tokenizer.apply_chat_template(
            [dict(m) for m in messages], tokenize=False, add_generation_prompt=add_generation_prompt
        )
    )


def _sentinel(i: int) -> str:
    # Private-use code points: never produced by a template, never meaningful in user text.
    return f"\ue000{i}\ue001"


def chat_segments(
    tokenizer: Any, messages: Sequence[Message], *, add_generation_prompt: bool = True
) -> list[tuple[str, str, int]]:
    """Split the rendered chat into ("markup", text, -1) and ("content", text, message index)."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise ModelLoadError("this tokenizer has no chat template; use a chat/instruct model")
    for m in messages:
        if not isinstance(m.get("content"), str) or not isinstance(m.get("role"), str):
            raise TypeError("every message needs a string 'role' and 'content'")
    templated = [{**dict(m), "content": _sentinel(i)} for i, m in enumerate(messages)]
    rendered = render_chat(tokenizer, templated, add_generation_prompt=add_generation_prompt)
    segments: list[tuple[str, str, int]] = []
    pos = 0
    for i, message in enumerate(messages):
        marker = _sentinel(i)
        idx = rendered.find(marker, pos)
        if idx < 0 or rendered.count(marker) != 1:
            raise ModelLoadError(
                "the chat template rewrites message contents, so user text cannot be encoded "
                "safely; use a template that inserts content verbatim"
            )
        segments.append(("markup", rendered[pos:idx], -1))
        segments.append(("content", message["content"], i))
        pos = idx + len(marker)
    segments.append(("markup", rendered[pos:], -1))
    return [s for s in segments if s[1]]


def encode_chat(
    tokenizer: Any, messages: Sequence[Message], *, add_generation_prompt: bool = True
) -> list[int]:
    """Token ids of a conversation: template markup as special tokens, contents as plain text."""
    ids: list[int] = []
    for kind, text, _ in chat_segments(tokenizer, messages, add_generation_prompt=add_generation_prompt):
        ids.extend(encode_trusted(tokenizer, text) if kind == "markup" else encode_untrusted(tokenizer, text))
    return ids
