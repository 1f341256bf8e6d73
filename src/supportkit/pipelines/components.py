"""Building the pipeline's components from a :class:`~supportkit.config.Config` (done once).

Everything here is plain construction: the few-shot bank (sharing one query-embedding cache with
intent detection, knowledge retrieval and the guard), the knowledge base, the prompt context the
strategies read, and the guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from supportkit.config import Config
from supportkit.data.examples import load_examples
from supportkit.guardrails.guard import Guard
from supportkit.guardrails.intent import IntentDetector
from supportkit.privacy import SECRET_KINDS, Redactor, SecretsPolicy
from supportkit.prompts import PromptContext
from supportkit.prompts.prompt_sets import PromptSet, load_prompt_set
from supportkit.prompts.roles import resolve_role
from supportkit.prompts.selection import make_selector
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import make_embedder
from supportkit.retrieval.knowledge import KnowledgeBase
from supportkit.store import Store


@dataclass
class Components:
    prompt_set: PromptSet
    bank: ExampleBank
    store: Store | None
    knowledge: KnowledgeBase | None
    context: PromptContext
    guard: Guard


def build_components(
    config: Config,
    *,
    bank: ExampleBank | None = None,
    store: Store | None = None,
    embedder: Any = None,
    knowledge: KnowledgeBase | None = None,
) -> Components:
    """The components ``config`` describes; given ones are used as they are.

    Raises: ConfigError / UnknownNameError for unknown prompt sets, roles or selectors;
    DataError for bad few-shot or intent files.
    """
    p, k = config.prompt, config.knowledge
    prompt_set = load_prompt_set(p.prompt_set)
    if bank is None:
        bank = ExampleBank(embedder=embedder if embedder is not None else make_embedder(k.embedder))
    if p.few_shot_file:
        _load(bank, p.few_shot_file, config)
    if store is None and p.store_path:
        store = Store.from_settings(p, redact=_redactor(config) or Redactor(kinds=SECRET_KINDS))
    resolve_role(p.role, prompt_set, p.custom_roles)
    if knowledge is None and k.path:
        knowledge = KnowledgeBase.from_settings(k, embedder=bank.embedder)
    context = PromptContext(
        secrets=SecretsPolicy.from_settings(config.guardrails),
        prompt_set=prompt_set,
        bank=bank,
        selector=make_selector(p.selector, mmr_lambda=p.mmr_lambda, seed=config.training.seed),
        num_examples=p.num_examples,
        custom_roles=p.custom_roles,
        knowledge=knowledge,
        knowledge_k=k.top_k,
        knowledge_min_similarity=k.min_similarity,
        combined_parts=tuple(p.combined_parts),
    )
    return Components(
        prompt_set, bank, store, knowledge, context, _guard(config, prompt_set, bank, knowledge)
    )


def _redactor(config: Config) -> Redactor | None:
    """What few-shot/intent files and stored messages are redacted with (``data.redact_pii``);
    without it the store still replaces secrets (``SECRET_KINDS``)."""
    return Redactor.from_settings(config.guardrails) if config.data.redact_pii else None


def _load(bank: ExampleBank, path: str, config: Config) -> None:
    """A few-shot or intent file read as training files are (mapping, delimiter, redaction)."""
    d = config.data
    load_examples(
        bank,
        path,
        on_error=d.on_error,
        column_mapping=d.column_mapping,
        csv_delimiter=d.csv_delimiter,
        redact_pii=_redactor(config) or False,
    )


def _guard(config: Config, ps: PromptSet, bank: ExampleBank, knowledge: KnowledgeBase | None) -> Guard:
    g = config.guardrails
    detector = None
    if g.intent_file:
        labelled = ExampleBank(embedder=bank.embedder, queries=bank.queries)
        _load(labelled, g.intent_file, config)
        detector = IntentDetector(labelled, g.intent_k)
    system_texts = [ps.system, ps.cot_instruction, ps.knowledge_instruction, ps.few_shot_intro]
    system_texts += [role.render() for role in ps.roles.values()]
    system_texts += list(config.prompt.custom_roles.values())
    return Guard(
        g,
        config.knowledge,
        knowledge=knowledge,
        bank=bank,
        detector=detector,
        system_texts=system_texts,
    )
