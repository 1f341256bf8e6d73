"""Groundedness: the share of an answer's factual sentences supported by the retrieved passages.

A sentence is supported when it is close in meaning to a sentence of a passage (MiniLM cosine at
least ``threshold``, or most of its content words in that one sentence: short claims such as
"Plus members have 60 days." embed poorly) *and* every number in it (days, amounts, percentages)
appears in the passages, the question or the customer's context. The second test matters: an
embedding places "returns within 90 days" right next to "returns within 30 days", so similarity
alone would call a contradicted figure supported; an answer with any invented figure is not
acceptable at all. Courtesy sentences ("Sorry to hear that.") are not claims and are not counted.

Supported is not enough: "The time it takes to return an item can vary greatly depending on the
product." is close to the returns article and invents nothing, yet does not answer "How long do I
have to return an item?". With the question given, an answer must also *answer* it
(:meth:`GroundednessChecker.answer_problem`): a question that asks for a figure ("how long", "how
much", "when", ...) is answered only by a claim carrying one of the top-ranked article's figures;
any other question by a claim close in meaning to that article's sentences most similar to the
question, or covering most of the question's key terms.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from supportkit.retrieval.embedder import Embedder
from supportkit.retrieval.lexical import tokenize
from supportkit.retrieval.passages import Passage

#: Share of a claim's content words found in one source sentence that makes it supported.
LEXICAL_SUPPORT = 0.75
#: A question asking for a figure: a duration, an amount, a count, a time or a date.
_FIGURE_QUESTION = re.compile(
    r"\b(how (long|many|much|soon|late|early|often|far|quickly|old)|what time|what date|which day"
    r"|(^|[.!?]\s*)when\b|\bwhen (will|would|do|does|did|is|are|was|can|should|must)\b"
    r"|by what|what('s| is) the (fee|cost|price|charge|limit|minimum|maximum|deadline))\b",
    re.IGNORECASE,
)
#: Words of a question that carry no topic ("how long do I have to ..." -> return, item).
_QUESTION_WORDS = frozenset(
    (
        "how",
        "long",
        "many",
        "much",
        "soon",
        "when",
        "what",
        "which",
        "why",
        "where",
        "who",
        "can",
        "could",
        "would",
        "should",
        "will",
        "do",
        "doe",
        "did",
        "have",
        "ha",
        "get",
        "need",
        "want",
        "able",
        "way",
        "there",
        "any",
        "anything",
        "please",
        "tell",
        "know",
    )
)
#: A claim this close (MiniLM cosine) to one of the passages' answer sentences answers the question.
ANSWER_SIMILARITY = 0.6
#: Or it covers at least this share of the question's key terms.
KEY_TERM_COVERAGE = 0.6
_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_COURTESY = re.compile(
    r"\b(sorry|apologi[sz]e|thank|glad|happy to help|let me know|anything else|have a (great|nice|good)"
    r"|hope this helps|you're welcome|feel free)\b",
    re.IGNORECASE,
)


def sentences(text: str) -> list[str]:
    """Sentences of generated text (lines are breaks too; a list number such as "2." stays with its
    item instead of counting as a claim of its own)."""
    return [s.strip(" -*•\t") for s in _join_list_numbers(_SPLIT.split(text)) if len(s.strip(" -*•\t")) > 1]


def _join_list_numbers(pieces: list[str]) -> list[str]:
    out: list[str] = []
    for piece in (p.strip() for p in pieces):
        if out and re.fullmatch(r"\d+[.)]", out[-1]):
            out[-1] += " " + piece
        else:
            out.append(piece)
    return out


_BLOCK_START = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\|)")


def source_sentences(text: str) -> list[str]:
    """Sentences of a Markdown passage: hard-wrapped lines are joined back, while list items and
    table rows stay separate."""
    blocks: list[str] = []
    joinable = False
    for line in text.splitlines():
        if not line.strip():
            joinable = False
            continue
        if joinable and not _BLOCK_START.match(line):
            blocks[-1] += " " + line.strip()
        else:
            blocks.append(line.strip())
        joinable = not line.lstrip().startswith("|")
    out: list[str] = []
    for block in blocks:
        # "2." is a list number, not a sentence: it stays with its item
        out += [p for p in _join_list_numbers(re.split(r"(?<=[.!?])\s+", block)) if len(p) > 1]
    return out


def is_claim(sentence: str) -> bool:
    if _NUMBER.search(sentence):
        return True
    return not _COURTESY.search(sentence) and len(sentence.split()) >= 4


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


@dataclass
class Groundedness:
    #: Supported claims / claims (1.0 when the answer makes no claim).
    score: float
    claims: int
    unsupported: list[str] = field(default_factory=list)
    #: Article ids by how many claims they support, most first, ties in retrieval order (the
    #: answer's citations).
    articles: list[str] = field(default_factory=list)
    #: Numbers in the answer found in no passage, question or context (invented figures).
    invented_numbers: list[str] = field(default_factory=list)
    #: Whether the answer answers the question (True when no question was given to check against).
    answers: bool = True
    #: Why it does not (empty when it does).
    answer_problem: str = ""

    def acceptable(self, minimum: float) -> bool:
        """At least ``minimum`` of the claims supported, no invented figure, and the question answered."""
        return not self.invented_numbers and self.answers and (self.claims == 0 or self.score >= minimum)


class GroundednessChecker:
    def __init__(self, embedder: Embedder, threshold: float = 0.55) -> None:
        self.embedder, self.threshold = embedder, threshold
        self._cache: dict[str, tuple[list[str], np.ndarray]] = {}

    def _passage_sentences(self, passage: Passage) -> tuple[list[str], np.ndarray]:
        key = f"{passage.id}\0{passage.text}"
        if key not in self._cache:
            parts = [p for p in (_plain(s) for s in source_sentences(passage.text)) if p] or [passage.text]
            self._cache[key] = (parts, self.embedder.embed([f"{passage.title}: {p}" for p in parts]))
        return self._cache[key]

    def check(
        self,
        answer: str,
        passages: Sequence[Passage],
        context: Iterable[str] = (),
        *,
        query: str | None = None,
    ) -> Groundedness:
        """Ground ``answer`` in ``passages`` (ranked, best first). ``context`` holds other texts whose
        numbers are known (question, profile, history); with ``query`` the answer must also answer it
        (see :meth:`answer_problem`)."""
        claims = [s for s in sentences(answer) if is_claim(s)]
        # one embedding call for the claims (and the question), shared by both checks
        vectors = self.embedder.embed([*claims, query] if query else claims) if claims and passages else None
        claim_vectors = vectors[: len(claims)] if vectors is not None else None
        result = self._support(claims, answer, passages, context, claim_vectors)
        if query and passages:
            query_vector = vectors[-1] if vectors is not None else None
            result.answer_problem = self.answer_problem(
                query, claims, passages, claim_vectors=claim_vectors, query_vector=query_vector
            )
            result.answers = not result.answer_problem
        return result

    def answer_problem(
        self,
        query: str,
        claims: Sequence[str],
        passages: Sequence[Passage],
        *,
        claim_vectors: np.ndarray | None = None,
        query_vector: np.ndarray | None = None,
    ) -> str:
        """Why ``claims`` do not answer ``query`` given ranked ``passages`` ("" when they do).

        The answer is expected from the top-ranked article (the passages sharing ``passages[0]``'s
        article). A figure question ("how long ...?") is answered only by a claim carrying one of
        that article's figures (any passage's when it has none). Any other question is answered by
        a claim within :data:`ANSWER_SIMILARITY` cosine of one of that article's two sentences most
        similar to the question, or covering :data:`KEY_TERM_COVERAGE` of the question's key terms."""
        if not claims:
            return "the answer makes no claim"
        top = [p for p in passages if p.article_id == passages[0].article_id]
        claim_numbers = set().union(*(_numbers(c) for c in claims))
        if _FIGURE_QUESTION.search(query):
            wanted = _numbers(" ".join(p.text for p in top)) or _numbers(" ".join(p.text for p in passages))
            if wanted and not claim_numbers & wanted:
                return f"the question asks for a figure and the answer gives none from {top[0].title!r}"
            if wanted:
                return ""
        if query_vector is None:
            query_vector = self.embedder.embed([query])[0]
        if claim_vectors is None:
            claim_vectors = self.embedder.embed(list(claims))
        vectors = np.vstack([self._passage_sentences(p)[1] for p in top])
        closest = np.argsort(-(vectors @ query_vector))[:2]
        similarity = float((claim_vectors @ vectors[closest].T).max())
        if similarity >= ANSWER_SIMILARITY:
            return ""
        key = {w for w in tokenize(query) if w not in _QUESTION_WORDS}
        said = set(tokenize(" ".join(claims)))
        if key and len(key & said) / len(key) >= KEY_TERM_COVERAGE:
            return ""
        return f"no claim is close to the answer in {top[0].title!r} (best similarity {similarity:.2f})"

    def _support(
        self,
        claims: list[str],
        answer: str,
        passages: Sequence[Passage],
        context: Iterable[str],
        claim_vectors: np.ndarray | None,
    ) -> Groundedness:
        if not claims:
            return Groundedness(1.0, 0)
        if not passages:
            return Groundedness(
                0.0, len(claims), unsupported=claims, invented_numbers=sorted(_numbers(answer))
            )
        owners: list[str] = []
        source_words: list[set[str]] = []
        blocks: list[np.ndarray] = []
        for p in passages:
            parts, vectors = self._passage_sentences(p)
            owners.extend([p.article_id] * len(parts))
            source_words.extend(set(tokenize(f"{p.title} {part}")) for part in parts)
            blocks.append(vectors)
        source = np.vstack(blocks)
        known_numbers = _numbers(" ".join([*(p.text for p in passages), *context]))
        sims = (claim_vectors if claim_vectors is not None else self.embedder.embed(claims)) @ source.T
        supported, unsupported, counts = 0, [], Counter[str]()
        invented = sorted({n for claim in claims for n in _numbers(claim) - known_numbers})
        for claim, row in zip(claims, sims, strict=True):
            words = set(tokenize(claim))
            coverage = np.array([len(words & w) / max(len(words), 1) for w in source_words])
            row = np.where(coverage >= LEXICAL_SUPPORT, np.maximum(row, self.threshold), row)
            best = int(np.argmax(row))
            if row[best] >= self.threshold and _numbers(claim) <= known_numbers:
                supported += 1
                counts[owners[best]] += 1
            else:
                unsupported.append(claim)
        # most supported first; ties go to the better retrieved article (passages are ranked)
        rank: dict[str, int] = {}
        for i, p in enumerate(passages):
            rank.setdefault(p.article_id, i)
        articles = sorted(counts, key=lambda a: (-counts[a], rank[a]))
        return Groundedness(supported / len(claims), len(claims), unsupported, articles, invented)


def _plain(text: str) -> str:
    """Article markup removed: emphasis, list markers; a table row becomes "first: rest, ..."."""
    text = re.sub(r"[*_`]{1,3}([^*_`]+)[*_`]{1,3}", r"\1", text)
    text = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", text)
    if "|" in text:
        cells = [c.strip() for c in text.strip().strip("|").split("|") if c.strip()]
        if not cells or all(set(c) <= set("-: ") for c in cells):
            return ""
        if all(len(c.split()) == 1 and not any(ch.isdigit() for ch in c) for c in cells):
            return ""  # a header row
        text = f"{cells[0]}: {', '.join(cells[1:])}" if len(cells) > 1 else cells[0]
    return re.sub(r"\s+", " ", text).strip()


def extract_answer(
    query: str, passages: Sequence[Passage], embedder: Embedder, *, max_sentences: int = 2
) -> str:
    """The sentences of ``passages`` most similar to ``query`` (at most ``max_sentences``, in
    their original order): an answer grounded by construction, for when the model's is not."""
    raw = [s for passage in passages for s in source_sentences(passage.text)]
    pairs = [(_plain(s), s) for s in raw]
    pairs = [(p, s) for p, s in pairs if len(p.split()) >= 3]
    if not pairs:
        return _plain(passages[0].text)
    parts = [p for p, _ in pairs]
    sims = embedder.embed(parts) @ embedder.embed([query])[0]
    best = float(sims.max())
    # the runner-up joins only when it is nearly as relevant as the best sentence
    ranked = sorted(int(i) for i in np.argsort(-sims)[:max_sentences] if sims[i] >= best - 0.1)
    # list items stay list items, one a line (joined with spaces they would read as one run-on line)
    lines = [_list_item(pairs[i][1], parts[i]) for i in ranked]
    if any(line != parts[i] for line, i in zip(lines, ranked, strict=True)):
        return "\n".join(lines)
    return " ".join(lines)


def _list_item(source: str, plain: str) -> str:
    """``plain`` with the source's list marker (``-``, ``2.``) when the source was a list item."""
    marker = re.match(r"^\s*([-*•]|\d+[.)])\s+", source)
    return f"{'-' if marker.group(1) in '*•' else marker.group(1)} {plain}" if marker else plain
