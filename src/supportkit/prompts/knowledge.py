"""Knowledge: help-centre passages in the prompt, as reference data, with rules to answer from them.

The passages are those the pipeline retrieved for the query (or, used on its own, the strategy
searches ``ctx.knowledge``); the renderer places them in the system message, marked as data, and
cuts the least relevant first when the prompt is over budget. Without a knowledge base configured
the strategy adds nothing, so ``combined`` can always include it.
"""

from __future__ import annotations

from supportkit.prompts.base import PromptContext, PromptPlan, PromptRequest, Strategy, register_strategy


@register_strategy("knowledge")
class Knowledge(Strategy):
    def contribute(self, plan: PromptPlan, request: PromptRequest, ctx: PromptContext) -> None:
        hits = list(request.passages) if request.passages is not None else []
        if request.passages is None and ctx.knowledge is not None:
            hits = ctx.knowledge.search(
                request.query,
                ctx.knowledge_k,
                min_similarity=ctx.knowledge_min_similarity,
                query_vector=ctx.bank.embed_query(request.query),  # the shared query cache
            )
        if not hits:
            return
        plan.passages = hits
        plan.system.append(ctx.prompt_set.knowledge_instruction)
        plan.passages_intro = ctx.prompt_set.knowledge_intro


def format_passages(plan: PromptPlan) -> str:
    """The reference block of the system message: numbered passages with their article."""
    if not plan.passages:
        return ""
    blocks = [plan.passages_intro]
    for n, hit in enumerate(plan.passages, start=1):
        p = hit.passage
        heading = f" — {p.heading}" if p.heading else ""
        blocks.append(f'[{n}] Article "{p.title}"{heading}:\n{p.text}')
    return "\n\n".join(blocks)
