"""Train / validation / test splits: seeded, stratified by intent, deduplicated across splits.

Near-identical questions (embedding cosine above a threshold, e.g. 0.95, or the same text) form a
group that always lands in one split, so a test question never has a twin in training. A
leave-intents-out mode holds whole intents out (all in test) to measure generalisation to intents
the model never saw. Few-shot banks for evaluation are built from the train split only.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from supportkit.data.readers import Conversation
from supportkit.errors import ConfigError
from supportkit.retrieval.embedder import Embedder

SPLITS = ("train", "validation", "test")


@dataclass
class Splits:
    train: list[Conversation]
    validation: list[Conversation]
    test: list[Conversation]
    #: How many near-duplicate groups (of 2 or more conversations) were kept together.
    duplicate_groups: int = 0

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in SPLITS}


def _normalise(text: str) -> str:
    """Case- and punctuation-free words of any script (ASCII text: runs of ``[a-z0-9]``)."""
    words = re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", text).lower())
    return " ".join(words) if words else text.strip()


def near_duplicate_groups(
    questions: Sequence[str], embedder: Embedder | None, threshold: float | None, block: int = 2048
) -> list[int]:
    """A group id per question: equal normalised text, or cosine > threshold, share a group."""
    parent = list(range(len(questions)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first: dict[str, int] = {}
    for i, q in enumerate(questions):
        key = _normalise(q)
        if key in first:
            union(first[key], i)
        else:
            first[key] = i
    if embedder is not None and threshold is not None and len(questions) > 1:
        vectors = embedder.embed(list(questions))
        for start in range(0, len(questions), block):  # blocked: memory stays O(block x n)
            sims = vectors[start : start + block] @ vectors.T
            rows, cols = np.nonzero(sims > threshold)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                if start + r < c:
                    union(start + r, c)
    return [find(i) for i in range(len(questions))]


def split_conversations(
    conversations: Sequence[Conversation],
    *,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 42,
    stratify: bool = True,
    embedder: Embedder | None = None,
    dedup_threshold: float | None = 0.95,
    leave_out_intents: Sequence[str] = (),
) -> Splits:
    held_out = set(leave_out_intents)
    unknown = held_out - {c.intent for c in conversations}
    if unknown:
        raise ConfigError(
            f"data.leave_out_intents names intents not in the data: {', '.join(sorted(unknown))}"
        )
    groups_of = near_duplicate_groups([c.question for c in conversations], embedder, dedup_threshold)
    groups: dict[int, list[int]] = defaultdict(list)
    for index, group in enumerate(groups_of):
        groups[group].append(index)
    rng = random.Random(seed)
    assigned: dict[str, list[int]] = {name: [] for name in SPLITS}
    targets = list(fractions)
    if held_out:
        # Whole intents go to test; the rest is split between train and validation.
        total = fractions[0] + fractions[1]
        targets = [fractions[0] / total, fractions[1] / total, 0.0]
    strata: dict[str, list[list[int]]] = defaultdict(list)
    for members in groups.values():
        intent = conversations[members[0]].intent
        if intent in held_out:
            assigned["test"].extend(members)
            continue
        strata[(intent or "") if stratify else ""].append(members)
    for key in sorted(strata):
        stratum = strata[key]
        rng.shuffle(stratum)
        counts = [0, 0, 0]
        size = sum(len(m) for m in stratum)
        for members in stratum:
            # Give the group to the split furthest below its target share of this stratum.
            deficits = [targets[s] * size - counts[s] if targets[s] > 0 else float("-inf") for s in range(3)]
            choice = int(np.argmax(deficits))
            counts[choice] += len(members)
            assigned[SPLITS[choice]].extend(members)
    ordered = {name: sorted(idx) for name, idx in assigned.items()}
    train, validation, test = ([conversations[i] for i in ordered[name]] for name in SPLITS)
    return Splits(train, validation, test, duplicate_groups=sum(1 for m in groups.values() if len(m) > 1))
