"""The metric registry: per-example scores of predictions against references.

Built in: ``rouge1``, ``rouge2``, ``rougeL`` (rouge-score, stemmed F-measure, with the Unicode-aware
:class:`UnicodeTokenizer`), ``bleu`` (sacrebleu sentence BLEU, 0-1), ``similarity`` (cosine of
all-MiniLM-L6-v2 embeddings), ``length`` (words in the answer; a Chinese/Japanese/Thai character
counts as a word), ``placeholder_leak`` (1 when the answer has a ``{{...}}`` slot that the
reference does not: long-answer datasets such as Bitext write their references with slots, and a
slot copied from such a reference is not a leak of the answer) and ``detail_recall`` (share of the
reference's specifics, such as order numbers, amounts and day counts, that the answer repeats; list
enumerators such as "1." or "2)" are not details; NaN when the reference has none, so such rows are
left out of the mean). The
evaluator adds per-request measures from the response itself: latency, escalation, intent
accuracy. Add your own with :func:`register_metric`::

    @register_metric("exact_match")
    def exact_match(predictions, references):
        return [float(p.strip() == r.strip()) for p, r in zip(predictions, references)]

Empty predictions score 0 and never crash.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import regex

from supportkit.registry import Registry
from supportkit.retrieval.embedder import Embedder, default_embedder

MetricFn = Callable[[Sequence[str], Sequence[str]], list[float]]
PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")
#: A "detail": an identifier with digits (BC-12345), an amount ($82.95), a number (60, 4.5, 10%).
DETAIL = re.compile(r"[A-Za-z]+-\d[\w-]*|\$?\d+(?:[.,]\d+)*%?")
#: A list enumerator: "1." / "2)" / "(3)" starting a line, after a bullet, or after a sentence end or colon
#: ("... as follows: 1. Open ... 2. Click ..."). Removed before details are collected.
ENUMERATOR = re.compile(
    r"(?:^|(?<=[\n:.!?;])|(?<=[\n:.!?;] ))[ \t]*(?:[-*\u2022][ \t]*)?\(?\d{1,2}[.)](?=\s)"
)

METRICS: Registry[MetricFn] = Registry("metric")


def register_metric(name: str, *, replace: bool = False) -> Callable[[MetricFn], MetricFn]:
    return METRICS.register(name, replace=replace)


#: Scripts written without spaces between words: each character (with its marks) is a token.
_UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_TOKEN = regex.compile(rf"[{_UNSPACED}]\p{{M}}*|(?:(?![{_UNSPACED}])[\p{{L}}\p{{M}}\p{{N}}])+")
_UNSPACED_CHAR = regex.compile(rf"[{_UNSPACED}]\p{{M}}*")


class UnicodeTokenizer:
    """rouge-score's tokenizer for every script (rouge-score's own keeps ``[a-z0-9]`` only).

    NFKC-normalised, lower-cased; a Han/kana/Thai/Lao/Khmer/Myanmar character is one token, any
    other run of letters, marks and digits is one word; ASCII words longer than 3 characters get
    rouge-score's Porter stem. On ASCII text the tokens are exactly rouge-score's, so English
    scores do not change.
    """

    def __init__(self, use_stemmer: bool = True) -> None:
        from nltk.stem import porter

        self._stemmer = porter.PorterStemmer() if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        """Tokens of ``text`` (list of str; empty for text without letters or digits)."""
        tokens = _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())
        if self._stemmer is None:
            return tokens
        stem = self._stemmer.stem
        return [stem(t) if len(t) > 3 and t.isascii() else t for t in tokens]


def space_unspaced(text: str) -> str:
    """``text`` with spaces around each character of scripts written without spaces (for word counts
    and BLEU's tokenizer); text in other scripts is returned unchanged."""
    return _UNSPACED_CHAR.sub(lambda m: f" {m.group()} ", text)


@functools.lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=UnicodeTokenizer())


def _rouge(kind: str) -> MetricFn:
    def metric(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
        scorer = _rouge_scorer()
        return [
            float(scorer.score(r, p)[kind].fmeasure) if p.strip() and r.strip() else 0.0
            for p, r in zip(predictions, references, strict=True)
        ]

    metric.__name__ = kind
    return metric


for _kind in ("rouge1", "rouge2", "rougeL"):
    METRICS.add(_kind, _rouge(_kind))


def similarity_with(embedder: Embedder) -> MetricFn:
    def similarity(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
        if len(predictions) != len(references):
            raise ValueError("predictions and references differ in length")
        if not predictions:
            return []
        pv = embedder.embed([p if p.strip() else " " for p in predictions])
        rv = embedder.embed(list(references))
        scores = np.sum(pv * rv, axis=1)
        return [0.0 if not p.strip() else float(s) for p, s in zip(predictions, scores, strict=True)]

    return similarity


@register_metric("bleu")
def bleu(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Sentence BLEU (sacrebleu's 13a tokens, exponential smoothing) scaled to 0-1; characters of
    scripts written without spaces (Chinese, Japanese, Thai, ...) count as words."""
    from sacrebleu.metrics import BLEU

    metric = BLEU(effective_order=True)
    return [
        metric.sentence_score(space_unspaced(p), [space_unspaced(r)]).score / 100
        if p.strip() and r.strip()
        else 0.0
        for p, r in zip(predictions, references, strict=True)
    ]


@register_metric("length")
def length(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Words in the answer (whitespace-separated; a Han/kana/Thai character is a word; the reference
    is not used)."""
    return [float(len(space_unspaced(p).split())) for p in predictions]


@register_metric("placeholder_leak")
def placeholder_leak(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """1.0 when the answer has a template placeholder (``{{Order Number}}``) the reference does not.

    Slots are compared by name, ignoring case, spaces and punctuation (``{{order number}}`` equals
    ``{{Order Number}}``), so a reference scores 0 against itself."""
    return [float(bool(_slots(p) - _slots(r))) for p, r in zip(predictions, references, strict=True)]


def _slots(text: str) -> set[str]:
    return {re.sub(r"[^a-z0-9]", "", m.lower()) for m in PLACEHOLDER.findall(text)}


def details(text: str) -> set[str]:
    """The specifics of ``text`` (identifiers, amounts, numbers), normalised for comparison.

    List enumerators ("1. Open Settings", "2) Click Save") are not specifics and are left out."""
    plain = unicodedata.normalize("NFKC", text)
    return {d.replace(",", "").lower() for d in DETAIL.findall(ENUMERATOR.sub(" ", plain))}


@register_metric("detail_recall")
def detail_recall(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Share of the reference's details that the answer repeats (NaN when it has none).

    ROUGE-L barely moves when an answer has the right template but the wrong order number; this
    measures exactly that: a nearest-neighbour answer copies another customer's details."""
    out = []
    for p, r in zip(predictions, references, strict=True):
        wanted = details(r)
        out.append(len(wanted & details(p)) / len(wanted) if wanted else float("nan"))
    return out


@register_metric("similarity")
def similarity(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Cosine similarity of MiniLM sentence embeddings (-1..1; 1 = same meaning)."""
    return similarity_with(default_embedder())(predictions, references)


def score(
    predictions: Sequence[str], references: Sequence[str], metrics: Sequence[str] | None = None
) -> dict[str, list[float]]:
    """Per-example scores for each metric (default: every registered metric)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    names = list(metrics) if metrics is not None else METRICS.names()
    return {name: METRICS.get(name)(predictions, references) for name in names}


def score_one(prediction: str, reference: str, metrics: Sequence[str] | None = None) -> dict[str, float]:
    return {k: v[0] for k, v in score([prediction], [reference], metrics).items()}
