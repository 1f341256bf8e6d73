"""Batches for training: collation, seeded length-grouped batch order, and the overview's DataLoader.

loader = DataLoader(config, tokenizer)
train_dl, val_dl = loader.create_dataloaders("data/store/conversations.jsonl")   # assistant-only labels
train_dl = loader.create_dataloader(input_ids, attention_mask)                   # the overview's call
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from supportkit.config import Config
from supportkit.data.readers import Conversation, read_conversations
from supportkit.data.splits import Splits, split_conversations
from supportkit.data.tokenize import IGNORE, TokenizedExample, kept_messages, tokenize_conversation
from supportkit.errors import ConfigError, DataError
from supportkit.models.tokenizer import encode_chat

#: What a run without ``data.train_file`` is told.
NO_TRAIN_FILE = (
    "no data file: set data.train_file to your CSV/JSONL/JSON file (e.g. "
    "data.train_file=my_company/conversations.csv; check it with `supportkit data inspect FILE`) or "
    "pass a path; to use the bundled example store, use configs/example-store.yaml"
)
log = logging.getLogger(__name__)


def collate(examples: Sequence[TokenizedExample], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask, labels (padding labelled -100)."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(e.labels)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


class SeededBatchSampler:
    """Batches of indices in a seeded order that depends only on (seed, epoch).

    With ``group_by_length``, indices are shuffled, cut into mega-batches of 50 batches, sorted by
    length inside each, then the batches are shuffled: little padding, still random. The same seed
    and epoch always give the same batches, which is what makes resumed training exact.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        seed: int,
        shuffle: bool = True,
        group_by_length: bool = True,
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.group_by_length = group_by_length
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        order = list(range(len(self.lengths)))
        if not self.shuffle:
            return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        rng = random.Random(f"{self.seed}:{self.epoch}")
        rng.shuffle(order)
        if self.group_by_length:
            mega = self.batch_size * 50
            order = [
                i
                for start in range(0, len(order), mega)
                for i in sorted(order[start : start + mega], key=lambda j: -self.lengths[j])
            ]
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size


@dataclass
class FitReport:
    """What ``data.max_length`` did to a set of conversations."""

    total: int = 0
    #: Early turns dropped; the final answer is whole.
    shortened: int = 0
    #: The final answer was cut at ``data.max_length`` (its beginning is trained).
    cut: int = 0
    #: ``file:line`` of conversations left out: not one token of the final answer fits.
    dropped: list[str] = field(default_factory=list)
    #: Tokens of the system prompt added to every conversation (0 without one).
    system_tokens: int = 0

    def merge(self, other: FitReport) -> FitReport:
        return FitReport(
            self.total + other.total,
            self.shortened + other.shortened,
            self.cut + other.cut,
            self.dropped + other.dropped,
            max(self.system_tokens, other.system_tokens),
        )


@dataclass
class PreparedData:
    splits: Splits
    train: list[TokenizedExample]
    validation: list[TokenizedExample]
    #: Conversations shortened or cut to fit ``data.max_length`` (still trained).
    truncated: int
    skipped_rows: int
    #: Details of what ``data.max_length`` did, dropped conversations included.
    fit: FitReport = field(default_factory=FitReport)


class _Examples:
    """A map-style dataset over tokenized examples."""

    def __init__(self, examples: Sequence[TokenizedExample]) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> TokenizedExample:
        return self.examples[index]


def choose_max_length(lengths: Sequence[int], *, cap: int | None, percentile: float = 99.0) -> int:
    """The ``percentile`` of token ``lengths`` rounded up to a multiple of 64, at most ``cap``.

    Raises: ValueError for no lengths."""
    if not lengths:
        raise ValueError("no lengths to choose a max_length from")
    value = int(np.ceil(np.percentile(np.asarray(lengths, dtype=np.float64), percentile)))
    value = max(64, -(-value // 64) * 64)
    return min(value, cap) if cap is not None else value


class DataLoader:
    """The overview's ``DataLoader(config)``: files -> splits -> tokenized, batched data."""

    def __init__(self, config: Config | None = None, tokenizer: Any = None) -> None:
        self.config = config if config is not None else Config()
        self.config.data.validate()
        self._tokenizer = tokenizer

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from supportkit.models.loading import load_tokenizer, resolve_model_dir

            self._tokenizer = load_tokenizer(resolve_model_dir(self.config.model.name_or_path))
        return self._tokenizer

    # --- the overview's call ---------------------------------------------------------------------
    def create_dataloader(self, input_ids: Any, attention_mask: Any, *, shuffle: bool = True) -> Any:
        """Batches from already-tokenized tensors; labels = input ids with padding set to -100.

        Every non-padding token is a training target here, prompt included; for assistant-only
        labels use :meth:`create_dataloaders` on a data file instead.
        """
        import torch

        input_ids = torch.as_tensor(input_ids, dtype=torch.long)
        attention_mask = torch.as_tensor(attention_mask, dtype=torch.long)
        if input_ids.shape != attention_mask.shape or input_ids.dim() != 2:
            raise DataError("input_ids and attention_mask must be 2-D tensors of the same shape")
        log.warning(
            "create_dataloader(input_ids, attention_mask): prompt tokens are trained too; "
            "use create_dataloaders(path) for assistant-only labels"
        )
        examples = [
            TokenizedExample(
                ids[m.bool()].tolist(),
                [t if keep else IGNORE for t, keep in zip(ids.tolist(), m.tolist(), strict=True) if keep],
            )
            for ids, m in zip(input_ids, attention_mask, strict=True)
        ]
        return self._dataloader(examples, shuffle=shuffle)

    # --- files -----------------------------------------------------------------------------------
    def read(self, path: str | Path | None = None) -> tuple[list[Conversation], int]:
        d = self.config.data
        path = path or d.train_file
        if path is None:
            raise ConfigError(NO_TRAIN_FILE)
        conversations, report = read_conversations(
            path,
            on_error=d.on_error,
            column_mapping=d.column_mapping,
            redact_pii=d.redact_pii,
            csv_delimiter=d.csv_delimiter,
        )
        if not conversations:
            raise DataError(f"{path} holds no usable conversations")
        return conversations, report.skipped

    def split(self, conversations: Sequence[Conversation], embedder: Any = None) -> Splits:
        d = self.config.data
        if embedder is None and d.dedup_threshold is not None:
            from supportkit.retrieval.embedder import default_embedder

            embedder = default_embedder()
        return split_conversations(
            conversations,
            fractions=(d.train_split, d.val_split, d.test_split),
            seed=d.seed,
            stratify=d.stratify,
            embedder=embedder,
            dedup_threshold=d.dedup_threshold,
            leave_out_intents=d.leave_out_intents,
        )

    def tokenize(self, conversations: Sequence[Conversation]) -> tuple[list[TokenizedExample], int]:
        """(examples, how many were shortened or cut); see :meth:`tokenize_report` for the drops."""
        examples, fit = self.tokenize_report(conversations)
        return examples, fit.shortened + fit.cut

    def tokenize_report(
        self, conversations: Sequence[Conversation]
    ) -> tuple[list[TokenizedExample], FitReport]:
        """Tokenized examples, keeping each final answer within ``data.max_length`` (early turns
        dropped first); conversations with no final-answer token left are left out and listed."""
        system = self._system_prompt()
        max_length = self.resolve_max_length(conversations)
        fit = FitReport(total=len(conversations))
        if system:
            fit.system_tokens = len(
                encode_chat(
                    self.tokenizer, [{"role": "system", "content": system}], add_generation_prompt=False
                )
            )
        out: list[TokenizedExample] = []
        for c in conversations:
            messages = list(c.messages)
            if system and messages[0]["role"] != "system":
                messages.insert(0, {"role": "system", "content": system})
            example = tokenize_conversation(self.tokenizer, messages, max_length=max_length)
            if example.answer_tokens == 0:
                fit.dropped.append(c.source or f"conversation {len(out) + len(fit.dropped) + 1}")
                continue
            fit.shortened += example.dropped_messages > 0 and not example.truncated
            fit.cut += example.truncated
            kept = kept_messages(messages, example)
            prompt = encode_chat(self.tokenizer, kept[:-1], add_generation_prompt=True)
            out.append(replace(example, prompt_ids=tuple(prompt), reference=messages[-1]["content"]))
        if fit.shortened or fit.cut:
            self._warn_fit(fit, conversations, max_length)
        if fit.dropped:
            log.warning("%s", self._dropped_message(fit, fit.total))
        return out, fit

    def _system_prompt(self) -> str | None:
        if not self.config.data.add_system_prompt:
            return None
        from supportkit.prompts.prompt_sets import load_prompt_set

        return load_prompt_set(self.config.prompt.prompt_set).system

    def token_lengths(self, conversations: Sequence[Conversation]) -> list[int]:
        """Each conversation's whole length in tokens, as training renders it (system prompt added
        per ``data.add_system_prompt``)."""
        system = self._system_prompt()
        out = []
        for c in conversations:
            messages = list(c.messages)
            if system and messages[0]["role"] != "system":
                messages.insert(0, {"role": "system", "content": system})
            out.append(len(encode_chat(self.tokenizer, messages, add_generation_prompt=False)))
        return out

    def resolve_max_length(self, conversations: Sequence[Conversation]) -> int:
        """``data.max_length``, or when it is ``None`` the length that fits 99 % of
        ``conversations`` (:func:`choose_max_length`), which is then written into
        ``config.data.max_length`` (logged) so that every later step uses the same value.

        Raises: DataError when ``conversations`` is empty and no value is set."""
        d = self.config.data
        if d.max_length is not None:
            return d.max_length
        if not conversations:
            raise DataError("no conversations to choose data.max_length from: set data.max_length")
        lengths = self.token_lengths(conversations)
        d.max_length = choose_max_length(lengths, cap=d.max_length_cap)
        over = sum(n > d.max_length for n in lengths)
        log.warning(
            "data.max_length not set: using %d tokens (99th percentile of %d training conversations is "
            "%d, rounded up to a multiple of 64, at most data.max_length_cap=%d); %d (%.1f %%) are longer",
            d.max_length,
            len(lengths),
            int(np.ceil(np.percentile(lengths, 99))),
            d.max_length_cap,
            over,
            100 * over / len(lengths),
        )
        return d.max_length

    def _warn_fit(self, fit: FitReport, conversations: Sequence[Conversation], max_length: int) -> None:
        share = (fit.shortened + fit.cut) / max(fit.total, 1)
        line = (
            f"data.max_length={max_length}: {fit.shortened} of {fit.total} conversations lost early "
            f"turns, {fit.cut} had the final answer cut"
        )
        if share <= 0.01:
            log.info("%s", line)
            return
        fits = choose_max_length(self.token_lengths(conversations), cap=None)
        log.warning(
            "!!! %s: %.0f %% of the training data is truncated (the end of a cut answer, its end-of-turn "
            "included, is never learnt). Set data.max_length=%d (fits 99 %%), or leave it unset to choose "
            "it from the data (at most data.max_length_cap)",
            line,
            100 * share,
            fits,
        )

    def _dropped_message(self, fit: FitReport, total: int) -> str:
        d = self.config.data
        system = (
            f"; the system prompt added to every conversation (data.add_system_prompt, prompt set "
            f"{self.config.prompt.prompt_set!r}) takes {fit.system_tokens} tokens"
            if fit.system_tokens
            else ""
        )
        shown = ", ".join(fit.dropped[:5]) + (" ..." if len(fit.dropped) > 5 else "")
        return (
            f"{len(fit.dropped)} of {total} conversations left out: not one token of the final answer fits "
            f"in data.max_length={d.max_length}{system}: {shown}. Raise data.max_length, shorten those "
            "questions or the system prompt, or set data.add_system_prompt=false"
        )

    def prepare(self, path: str | Path | None = None, *, embedder: Any = None) -> PreparedData:
        """Read, split and tokenize a data file.

        Raises:
            DataError: no usable conversation, or none left for training within ``data.max_length``.
        """
        conversations, skipped = self.read(path)
        splits = self.split(conversations, embedder)
        self.resolve_max_length(splits.train or conversations)
        train, f1 = self.tokenize_report(splits.train)
        val, f2 = self.tokenize_report(splits.validation)
        fit = f1.merge(f2)
        if splits.train and not train:
            raise DataError(self._dropped_message(f1, f1.total))
        return PreparedData(splits, train, val, fit.shortened + fit.cut, skipped, fit)

    def create_dataloaders(self, path: str | Path | None = None, *, embedder: Any = None) -> tuple[Any, Any]:
        """(train, validation) dataloaders with assistant-only labels from a data file."""
        return self.dataloaders_for(self.prepare(path, embedder=embedder))

    def dataloaders_for(self, data: PreparedData) -> tuple[Any, Any]:
        """(train, validation) dataloaders for prepared data (validation is None when empty)."""
        val = self._dataloader(data.validation, shuffle=False) if data.validation else None
        return self._dataloader(data.train, shuffle=True), val

    def _dataloader(self, examples: Sequence[TokenizedExample], *, shuffle: bool) -> Any:
        import torch

        t, d = self.config.training, self.config.data
        sampler = SeededBatchSampler(
            [len(e.input_ids) for e in examples],
            t.batch_size,
            seed=t.seed,
            shuffle=shuffle,
            group_by_length=d.group_by_length,
        )
        pad = self.tokenizer.pad_token_id
        return torch.utils.data.DataLoader(
            _Examples(examples),  # type: ignore[arg-type]  # map-style: __len__ + __getitem__
            batch_sampler=sampler,
            collate_fn=lambda batch: collate(batch, pad),
        )
