"""Turn a :class:`PromptPlan` into chat messages and token ids within a token budget.

Budget = min(prompt cap, model context - max new tokens). When the prompt is over budget, the
least similar examples go first, then the least relevant knowledge passages, then the oldest
history turns, and only then is the query cut, keeping its head and tail. What was cut is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supportkit.errors import ConfigError
from supportkit.models.tokenizer import encode_chat, encode_untrusted
from supportkit.prompts.base import Message, PromptPlan
from supportkit.prompts.knowledge import format_passages

ELLIPSIS = " […] "


@dataclass
class RenderedPrompt:
    messages: list[dict[str, str]]
    input_ids: list[int]
    budget: int
    cut: dict[str, int] = field(default_factory=dict)


def plan_messages(plan: PromptPlan, query: str | None = None) -> list[dict[str, str]]:
    system = [*plan.system, format_passages(plan)]
    messages = [{"role": "system", "content": "\n\n".join(s for s in system if s)}]
    for selected in plan.examples:
        messages.append({"role": "user", "content": selected.example.question})
        messages.append({"role": "assistant", "content": selected.example.answer})
    messages.extend({"role": m["role"], "content": m["content"]} for m in plan.history)
    messages.append({"role": "user", "content": plan.query if query is None else query})
    return messages


def _drop_oldest_turn(history: list[Message]) -> int:
    """Remove the oldest turn (a user message and the replies up to the next user message)."""
    end = 1
    while end < len(history) and history[end]["role"] != "user":
        end += 1
    del history[:end]
    return end


def render(
    plan: PromptPlan, tokenizer: Any, *, max_prompt_tokens: int, max_new_tokens: int
) -> RenderedPrompt:
    context = int(getattr(tokenizer, "model_max_length", 0) or 0)
    budget = (
        max_prompt_tokens
        if context <= 0 or context > 10**7
        else min(max_prompt_tokens, context - max_new_tokens)
    )
    if budget <= 0:
        raise ConfigError(
            f"no room for a prompt: context {context} - generation.max_new_tokens {max_new_tokens} <= 0"
        )
    cut = {"examples": 0, "passages": 0, "history_messages": 0, "query_tokens": 0}
    ids = encode_chat(tokenizer, plan_messages(plan))
    # Cut order: examples, then passages (each least relevant first), then history, then the query.
    for name in ("examples", "passages"):
        items: list[Any] = getattr(plan, name)
        while len(ids) > budget and items:
            items.pop()
            cut[name] += 1
            ids = encode_chat(tokenizer, plan_messages(plan))
    while len(ids) > budget and plan.history:
        cut["history_messages"] += _drop_oldest_turn(plan.history)
        ids = encode_chat(tokenizer, plan_messages(plan))
    query = plan.query
    if len(ids) > budget:
        query_ids = encode_untrusted(tokenizer, plan.query)
        marker = len(encode_untrusted(tokenizer, ELLIPSIS))
        excess = len(ids) - budget
        keep = len(query_ids) - excess - marker
        while keep > 0:
            head = keep - keep // 3  # the head carries the question; keep the end too
            query = (
                tokenizer.decode(query_ids[:head])
                + ELLIPSIS
                + tokenizer.decode(query_ids[len(query_ids) - (keep - head) :])
            )
            ids = encode_chat(tokenizer, plan_messages(plan, query))
            if len(ids) <= budget:
                break
            keep -= max(1, len(ids) - budget)
        if keep <= 0:
            raise ConfigError(
                f"the system instructions alone exceed the prompt budget of {budget} tokens; raise "
                "prompt.max_prompt_tokens or shorten the prompt set"
            )
        cut["query_tokens"] = len(query_ids) - keep
        plan.query = query
    return RenderedPrompt(
        messages=plan_messages(plan), input_ids=ids, budget=budget, cut={k: v for k, v in cut.items() if v}
    )


def system_prefix_tokens(tokenizer: Any, rendered: RenderedPrompt) -> int:
    """How many leading tokens of ``rendered.input_ids`` hold only its system message (0 when the
    chat template does not render that message as a prefix of the whole prompt)."""
    if not rendered.messages or rendered.messages[0]["role"] != "system":
        return 0
    head = encode_chat(tokenizer, rendered.messages[:1], add_generation_prompt=False)
    return len(head) if rendered.input_ids[: len(head)] == head else 0
