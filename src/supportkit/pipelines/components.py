"""Building the pipeline's components from a :class:`~supportkit.config.Config` (done once).

Everything here is plain construction: the few-shot bank (sharing one query-embedding cache with
intent detection, knowledge retrieval and the guard), the knowledge base, the prompt context the
strategies read, and the guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from supportkit.config import Config
from supportkit.guardrails.guard import Guard
from supportkit.guardrails.intent import IntentDetector
from supportkit.prompts import PromptContext
from supportkit.prompts.prompt_sets import PromptSet, load_prompt_set
from supportkit.prompts.roles import resolve_role
from supportkit.prompts.selection import make_selector
from supportkit.retrieval.bank import ExampleBank
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
    bank = bank if bank is not None else ExampleBank(embedder=embedder)
    if p.few_shot_file:
        bank.load_file(p.few_shot_file, on_error=config.data.on_error)
    store = store if store is not None else (Store(p.store_path) if p.store_path else None)
    resolve_role(p.role, prompt_set, p.custom_roles)
    if knowledge is None and k.path:
        knowledge = KnowledgeBase(
            k.path,
            embedder=bank.embedder,
            index_dir=k.index_dir,
            chunk_chars=k.chunk_chars,
            overlap_chars=k.overlap_chars,
            hybrid=k.hybrid,
            bm25_weight=k.bm25_weight,
        )
    context = PromptContext(
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


def _guard(config: Config, ps: PromptSet, bank: ExampleBank, knowledge: KnowledgeBase | None) -> Guard:
    g = config.guardrails
    detector = None
    if g.intent_file:
        labelled = ExampleBank(embedder=bank.embedder, queries=bank.queries)
        labelled.load_file(g.intent_file, on_error=config.data.on_error)
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
