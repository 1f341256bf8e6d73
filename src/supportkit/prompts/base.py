"""What a prompt strategy is: a small class that adds its part to a :class:`PromptPlan`.

A plan is structured (system sections, examples, history, query) rather than text, so the
renderer can enforce the token budget by cutting the right things first (examples and history
before the query), and strategies compose: ``combined`` runs the others' ``contribute`` in turn.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from supportkit.privacy.secrets import SecretsPolicy
from supportkit.prompts.prompt_sets import PromptSet
from supportkit.prompts.selection import Selected, Selector
from supportkit.registry import Registry
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.knowledge import Hit, KnowledgeBase

Message = Mapping[str, str]


@dataclass
class PromptRequest:
    """One customer request, as the strategies see it."""

    query: str
    role: str
    user_context: Mapping[str, Any] | None = None
    #: Earlier turns of this conversation, oldest first (user/assistant messages).
    history: Sequence[Message] = ()
    #: Restrict few-shot examples to one intent (e.g. from an intent detector).
    intent: str | None = None
    #: Knowledge passages already retrieved for this query (``None``: the strategy searches).
    passages: Sequence[Hit] | None = None


@dataclass
class PromptContext:
    """What strategies may draw on; built once per pipeline."""

    prompt_set: PromptSet
    bank: ExampleBank
    selector: Selector
    num_examples: int
    custom_roles: Mapping[str, str] = field(default_factory=dict)
    knowledge: KnowledgeBase | None = None
    knowledge_k: int = 3
    knowledge_min_similarity: float = 0.3
    #: The strategies ``combined`` is made of, in order.
    combined_parts: tuple[str, ...] = ("role_context", "knowledge", "few_shot", "cot")
    #: What of the user's profile is withheld from the prompt (``None``: the default deny list).
    secrets: SecretsPolicy | None = None


@dataclass
class PromptPlan:
    strategy: str
    system: list[str]
    query: str
    history: list[Message] = field(default_factory=list)
    #: Few-shot examples, most relevant first (the budget cuts from the end).
    examples: list[Selected] = field(default_factory=list)
    #: Knowledge passages, most relevant first (the budget cuts from the end).
    passages: list[Hit] = field(default_factory=list)
    #: Introduces the passages in the system message (set by the knowledge strategy).
    passages_intro: str = ""
    role: str | None = None
    #: Set by chain-of-thought: where the customer-facing answer starts in the output.
    answer_marker: str | None = None


class Strategy(ABC):
    """A prompt strategy: turns a :class:`PromptRequest` into a :class:`PromptPlan` (system parts,
    examples, passages, history, query) that ``prompts.render`` turns into token ids.

    Subclasses set ``name``, implement :meth:`contribute` and register with
    ``@STRATEGIES.register(name)``; they are stateless (one instance per request is fine) and
    read shared state only from ``ctx`` (prompt set, bank, selector, knowledge base).

    Raises (from ``build``): UnknownNameError for an unknown role; whatever the selector or the
    knowledge base raise (e.g. ModelLoadError when the embedder is missing).

    Example::

        @STRATEGIES.register("polite")
        class Polite(Strategy):
            name = "polite"

            def contribute(self, plan, request, ctx):
                plan.system.append("Always thank the customer.")
    """

    name: ClassVar[str]

    def build(self, request: PromptRequest, ctx: PromptContext) -> PromptPlan:
        plan = PromptPlan(
            strategy=self.name,
            system=[ctx.prompt_set.system],
            query=request.query,
            history=list(request.history),
        )
        self.contribute(plan, request, ctx)
        return plan

    @abstractmethod
    def contribute(self, plan: PromptPlan, request: PromptRequest, ctx: PromptContext) -> None:
        """Add this strategy's part to ``plan``."""


STRATEGIES: Registry[type[Strategy]] = Registry("prompt strategy")

_S = TypeVar("_S", bound=type[Strategy])


def register_strategy(name: str) -> Callable[[_S], _S]:
    """Class decorator: register a :class:`Strategy` as ``name`` and set its ``name`` (spelled once).

    Raises ``ValueError`` when the name is taken or malformed (see :class:`Registry`).
    """

    def decorator(cls: _S) -> _S:
        cls.name = name
        STRATEGIES.add(name, cls)
        return cls

    return decorator


#: The default ``prompt.strategy``: chosen per request from what the pipeline has (see
#: :func:`choose_strategy`).
AUTO = "auto"


def strategy_names() -> list[str]:
    """Every name ``prompt.strategy`` (and a request's ``strategy``) may take: ``auto`` and the
    registered strategies."""
    return [AUTO, *STRATEGIES.names()]


def choose_strategy(name: str, *, knowledge: KnowledgeBase | None, examples: int) -> str:
    """The strategy ``name`` stands for: itself, or for ``auto``: ``knowledge`` when a knowledge
    base is configured, else ``few_shot`` when the bank holds examples, else ``zero_shot``.

    Why: answers from a knowledge base are the ones checked and cited (BENCHMARKS.md, "Grounding");
    ``combined`` adds chain-of-thought by default (2.6x the latency, unmeasured for grounding); with
    examples only, few-shot scored ROUGE-L 0.467 vs zero-shot 0.150 untuned ("Comparison on the
    project's dataset"). Raises :class:`UnknownNameError` (with the closest name) for an unknown one.
    """
    if name == AUTO:
        if knowledge is not None:
            return "knowledge"
        return "few_shot" if examples else "zero_shot"
    if name not in STRATEGIES:
        STRATEGIES.get(name)  # raises, naming the known strategies and the closest one
    return name
