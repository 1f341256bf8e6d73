"""Baselines without a language model, for the comparison table.

``nearest_neighbour``: the answer is the training answer of the most similar training question
(MiniLM cosine). On a dataset with one canned answer per intent this is nearly perfect; on the
project's detail-dependent answers it shows what a model must add (the customer's order number,
dates and amounts).
"""

from __future__ import annotations

from collections.abc import Sequence

from supportkit.data.readers import QAExample
from supportkit.evaluation.evaluator import EvalExample
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import Embedder
from supportkit.retrieval.index import top_k


class NearestNeighbourBaseline:
    name = "nearest-neighbour baseline"

    def __init__(self, train: Sequence[EvalExample], embedder: Embedder) -> None:
        if not train:
            raise ValueError("the nearest-neighbour baseline needs training examples")
        self.bank = ExampleBank(embedder=embedder)
        self.bank.extend([QAExample(e.question, e.reference, e.intent) for e in train])

    def answer(self, question: str) -> str:
        snapshot = self.bank.snapshot()
        idx, _ = top_k(snapshot.vectors, self.bank.embed_query(question), 1)
        return snapshot.examples[int(idx[0])].answer
