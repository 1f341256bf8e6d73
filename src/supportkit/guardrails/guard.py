"""The guard around every pipeline request: assess before generating, check after.

    guard = Guard(config.guardrails, config.knowledge, knowledge=kb, bank=bank, system_texts=[...])
    assessment = guard.assess(query, history=[], profile={})
    if assessment.escalation: ...   # answer with the hand-off message, do not generate
    checked = guard.check(model_text, assessment, passages=plan.passages, query=query, profile={})

One query embedding serves retrieval, intent detection and the few-shot match score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from supportkit.config import GuardrailsConfig, KnowledgeConfig
from supportkit.guardrails.escalation import Escalation, handoff_summary, request_escalation
from supportkit.guardrails.groundedness import Groundedness, GroundednessChecker, extract_answer
from supportkit.guardrails.inputs import searchable
from supportkit.guardrails.intent import IntentDetector, IntentGuess
from supportkit.guardrails.language import LanguageGuess
from supportkit.guardrails.output import (
    GuardedText,
    drop_unfinished_sentence,
    guard_text,
    leaked_words,
    mark_unfinished,
    unit_ends,
)
from supportkit.privacy import DEFAULT_HANDOFF_FIELDS, Redactor, SecretsPolicy
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.index import top_k
from supportkit.retrieval.knowledge import Hit, KnowledgeBase


@dataclass
class Assessment:
    #: Passages relevant enough to answer from (similarity >= knowledge.min_similarity).
    hits: list[Hit]
    #: The top passages whatever their similarity (for the hand-off summary).
    retrieved: list[Hit]
    intent: IntentGuess | None
    best_passage: float | None
    best_example: float | None
    escalation: Escalation | None = None


@dataclass
class Checked:
    text: str
    groundedness: Groundedness | None = None
    #: Titles of the articles the answer is grounded in.
    citations: list[str] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)
    escalation: Escalation | None = None
    #: The guarded answer a hand-off replaced (not grounded): never shown to the customer.
    withheld: str | None = None


class Guard:
    """Checks before generating (:meth:`assess`: retrieval, intent, escalation) and after
    (:meth:`check`: length, leak, slots, redaction, groundedness).

    Args:
        settings: the ``guardrails`` config section (read, never changed).
        knowledge_settings: the ``knowledge`` section (top_k, min_similarity, cite, support_similarity).
        knowledge: the knowledge base to retrieve from (``None``: no retrieval, no groundedness).
        bank: the few-shot bank; its query-embedding cache embeds each query once per request.
        detector: intent detection (default: k-NN over the bank's labelled examples).
        system_texts: prompt texts a reply must not repeat (the leak check).

    Raises: nothing of its own; embedder errors (ModelLoadError) pass through.

    Thread safety: stateless per call (the caches it reads are locked or append-only).

    Example::

        guard = Guard(config.guardrails, config.knowledge, knowledge=kb, bank=bank)
        assessment = guard.assess("where is my parcel")
        checked = guard.check(model_text, assessment, passages=assessment.hits, query="where is my parcel")
    """

    def __init__(
        self,
        settings: GuardrailsConfig,
        knowledge_settings: KnowledgeConfig,
        *,
        knowledge: KnowledgeBase | None,
        bank: ExampleBank,
        detector: IntentDetector | None = None,
        system_texts: Sequence[str] = (),
    ) -> None:
        self.settings, self.knowledge_settings = settings, knowledge_settings
        self.knowledge, self.bank = knowledge, bank
        self.detector = detector if detector is not None else IntentDetector(bank, settings.intent_k)
        self.system_texts = [t for t in system_texts if t]
        self.groundedness = GroundednessChecker(bank.embedder, knowledge_settings.support_similarity)

    def assess(
        self,
        query: str,
        *,
        history: Sequence[Mapping[str, str]] = (),
        profile: Mapping[str, Any] | None = None,
        language: LanguageGuess | None = None,
    ) -> Assessment:
        """Retrieval, intent and the escalation rules before generating (``language``: the
        question's, from :class:`~supportkit.guardrails.language.LanguageDetector`)."""
        search = searchable(query)  # without emoji: they only blur the embedding
        vector = self.bank.embed_query(search)
        retrieved: list[Hit] = []
        best_passage: float | None = None
        if self.knowledge is not None and len(self.knowledge):
            retrieved = self.knowledge.search(search, self.knowledge_settings.top_k, query_vector=vector)
            best_passage = max((h.similarity for h in retrieved), default=0.0)
        hits = [h for h in retrieved if h.similarity >= self.knowledge_settings.min_similarity]
        intent = self.detector.detect(search, vector) if self.detector.labelled else None
        best_example = self._best_example(vector, intent)
        assessment = Assessment(hits, retrieved, intent, best_passage, best_example)
        if self.settings.escalation:
            found = request_escalation(
                query,
                self.settings,
                intent=intent,
                best_passage=best_passage,
                best_example=best_example,
                language=language,
            )
            if found is not None:
                assessment.escalation = self._escalation(*found, query, history, assessment, profile or {})
        return assessment

    def _best_example(self, vector: Any, intent: IntentGuess | None) -> float | None:
        scores = [intent.similarity] if intent is not None else []
        snapshot = self.bank.snapshot()
        if len(snapshot) and self.detector.bank is not self.bank:
            scores.append(float(top_k(snapshot.vectors, vector, 1)[1][0]))
        return max(scores) if scores else None

    def _escalation(
        self,
        reason: str,
        detail: str,
        query: str,
        history: Sequence[Mapping[str, str]],
        assessment: Assessment,
        profile: Mapping[str, Any],
    ) -> Escalation:
        summary = handoff_summary(
            reason,
            detail,
            query=query,
            history=history,
            intent=assessment.intent,
            hits=assessment.retrieved,
            profile=profile,
            **self._handoff_privacy(),
        )
        return Escalation(reason, detail, summary)

    def _handoff_privacy(self) -> dict[str, Any]:
        s = self.settings
        fields = s.handoff_fields if s.handoff_fields is not None else DEFAULT_HANDOFF_FIELDS
        # PII in the summary is redacted where it is stored (Store(redact=...) with data.redact_pii).
        return {"fields": fields, "secrets": SecretsPolicy.from_settings(s)}

    def guard_output(self, text: str, profile: Mapping[str, Any], *, partial: bool = False) -> GuardedText:
        """The output guardrails on ``text``. ``partial`` (a streamed sentence): only the local
        ones, slots and redaction; length and the leak check need the whole answer."""
        s = self.settings
        return guard_text(
            text,
            slot_values={**s.slots, **profile},
            redact_pii=s.redact_output,
            system_texts=() if partial else self.system_texts,
            leak_min_words=s.leak_min_words,
            leak_message=s.leak_message,
            max_chars=None if partial else s.max_chars,
            stop_sequences=() if partial else s.stop_sequences,
            secrets=SecretsPolicy.from_settings(s),
            regions=Redactor.from_settings(s).regions,
        )

    def leaks(self, text: str) -> bool:
        """Whether ``text`` repeats at least ``leak_min_words`` consecutive words of a system text."""
        return leaked_words(text, self.system_texts) >= self.settings.leak_min_words

    @staticmethod
    def grounding_context(
        query: str, profile: Mapping[str, Any], history: Sequence[Mapping[str, str]]
    ) -> list[str]:
        """Texts whose figures an answer may repeat besides the passages."""
        return [query, *(str(v) for v in profile.values()), *(m.get("content", "") for m in history)]

    def supported(self, text: str, passages: Sequence[Hit], context: Sequence[str]) -> bool:
        """Whether every claim of ``text`` is supported by ``passages`` (no invented figure)."""
        if not passages:
            return True
        grounded = self.groundedness.check(text, [h.passage for h in passages], context)
        return not grounded.unsupported and not grounded.invented_numbers

    def check(
        self,
        text: str,
        assessment: Assessment,
        *,
        passages: Sequence[Hit],
        query: str,
        profile: Mapping[str, Any] | None = None,
        history: Sequence[Mapping[str, str]] = (),
        finished: bool = True,
    ) -> Checked:
        """Guard the model's answer: an unfinished last sentence (generation stopped by
        ``max_new_tokens``: ``finished`` false) is dropped, then length, leak, slots, redaction,
        then groundedness (an ungrounded answer is replaced by the article's own sentences or
        escalated)."""
        s = self.settings
        profile = profile or {}
        dropped = marked = False
        if not finished:
            text, dropped = drop_unfinished_sentence(text)
            if not dropped and text.strip() and not [e for e in unit_ends(text) if text[:e].strip()]:
                text, marked = mark_unfinished(text), True  # no sentence ended: end on a whole word
        guarded = self.guard_output(text, profile)
        checked = Checked(guarded.text, changes=guarded.changes)
        if dropped:
            checked.changes["unfinished_sentence_dropped"] = 1
        if marked:
            checked.changes["unfinished_sentence_marked"] = 1
        if not passages or "leak_replaced" in guarded.changes:
            return checked
        context = self.grounding_context(query, profile, history)
        grounded = self.groundedness.check(
            guarded.text, [h.passage for h in passages], context, query=query if s.require_answer else None
        )
        checked.groundedness = grounded
        titles = {h.passage.article_id: h.passage.title for h in passages}
        checked.citations = [titles[a] for a in grounded.articles if a in titles]
        if not grounded.acceptable(s.min_groundedness):
            best = passages[0]  # the best ranked (hybrid ranking beats cosine alone)
            if s.on_ungrounded == "extract" and best.similarity >= s.min_extract_similarity:
                same_article = sorted(
                    (h.passage for h in passages if h.passage.article_id == best.passage.article_id),
                    key=lambda p: int(p.id.rsplit("#", 1)[1]),
                )
                checked.text = extract_answer(query, same_article, self.bank.embedder)
                checked.citations = [best.passage.title]
                checked.changes["extractive_answer"] = 1
            elif s.escalation:
                detail = f"groundedness {grounded.score:.2f} (minimum {s.min_groundedness:.2f})"
                if grounded.invented_numbers:
                    detail += f"; figures in no source: {', '.join(grounded.invented_numbers)}"
                if grounded.answer_problem:
                    detail += f"; {grounded.answer_problem}"
                checked.escalation = self._escalation(
                    "low_groundedness", detail, query, history, assessment, profile
                )
                checked.withheld, checked.text = checked.text, s.handoff_message
                return checked
        if self.knowledge_settings.cite and checked.citations:
            title = checked.citations[0]
            if title.lower() not in checked.text.lower():
                checked.text = f"{checked.text}\n\nSource: {title}"
        return checked
