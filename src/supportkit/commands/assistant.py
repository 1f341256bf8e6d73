"""Commands that answer questions: ``chat`` (interactive, streamed) and ``ask`` (one question).

Both answer through the one :class:`~supportkit.pipelines.inference.InferencePipeline` (strategies,
knowledge, guardrails, input checks, adapters); ``ask --raw`` alone sends the bare question to the
base model, as a smoke test of the model itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from supportkit.cli import add_config_arguments, command, load_config
from supportkit.data.project import apply_project_defaults


def _add_answer_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strategy", default=None, help="zero_shot, few_shot, cot, role_context, knowledge, combined"
    )
    p.add_argument("--role", default=None, help="e.g. technical_support")
    p.add_argument("--user-id", default=None, help="remember history/profile under this id")
    p.add_argument("--adapter", default=None, help="a saved adapter directory to answer with")
    p.add_argument("--show-meta", action="store_true", help="print examples, articles, reasoning and timing")


def _configure_chat(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    _add_answer_options(p)


@command("chat", "chat with the assistant in the terminal (one question per line)", _configure_chat)
def run_chat(args: argparse.Namespace) -> int:
    from supportkit.recipes.assistant import build_pipeline

    config = apply_project_defaults(load_config(args))
    pipeline = build_pipeline(config, args.adapter, engine=config.serving.engine)  # as `serve` decodes
    interactive = sys.stdin.isatty()
    if interactive:
        print("supportkit chat: type a question, or 'quit'. (Ctrl-D to leave)")
    for line in sys.stdin:
        query = line.strip()
        if not query:
            continue
        if query.lower() in ("quit", "exit"):
            break
        handle = pipeline.stream(query, args.strategy, role=args.role, user_id=args.user_id)
        print("assistant: ", end="", flush=True)
        for chunk in handle:
            print(chunk, end="", flush=True)
        print()
        response = handle.response
        if args.show_meta and response is not None:
            _print_meta(response)
    return 0


def _print_meta(response: Any) -> None:
    for e in response.examples:
        sim = f"{e.similarity:.2f}" if e.similarity is not None else "-"
        print(f"    example ({sim}): {e.question}")
    for p in response.passages:
        print(f"    article ({p.similarity:.2f}): {p.title} [{p.url}]")
    if response.groundedness is not None:
        print(f"    groundedness {response.groundedness:.2f}; guardrails {response.guardrails or '-'}")
    if response.escalate and response.escalation:
        print(f"    ESCALATED ({response.escalation['reason']}): {response.escalation['detail']}")
    if response.reasoning:
        print("    reasoning: " + response.reasoning.replace("\n", " ")[:300])
    if response.cut:
        print(f"    cut by the token budget: {response.cut}")
    print(
        f"    [{response.strategy}, role {response.role or '-'}, prompts {response.prompt_version}, "
        f"{response.prompt_tokens} prompt + {response.generated_tokens} new tokens, "
        f"{response.latency_s:.1f} s]"
    )


def _configure_ask(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", help="the customer's question")
    add_config_arguments(p)
    _add_answer_options(p)
    p.add_argument(
        "--raw", action="store_true", help="bare base model, no pipeline (a smoke test of the model alone)"
    )


@command("ask", "answer one question through the assistant pipeline", _configure_ask)
def run_ask(args: argparse.Namespace) -> int:
    config = load_config(args)
    start = time.perf_counter()
    if args.raw:
        return _ask_raw(args.question, config, start)
    from supportkit.recipes.assistant import build_pipeline

    pipeline = build_pipeline(apply_project_defaults(config), args.adapter)
    loaded = time.perf_counter()
    response = pipeline.respond(args.question, args.strategy, role=args.role, user_id=args.user_id)
    print(f"Q: {args.question}")
    print(f"A: {response.text}")
    if args.show_meta:
        _print_meta(response)
    print(
        f"({config.model.name_or_path}, {response.strategy}: loaded in {loaded - start:.1f} s, "
        f"{response.generated_tokens} tokens in {time.perf_counter() - loaded:.1f} s)"
    )
    return 0


def _ask_raw(question: str, config: Any, start: float) -> int:
    from supportkit.generation import generate_chat
    from supportkit.models.loading import load_base

    m = config.model
    base = load_base(
        m.name_or_path,
        device=m.device,
        dtype=m.dtype,
        trust_remote_code=m.trust_remote_code,
        threads=m.threads,
    )
    loaded = time.perf_counter()
    result = generate_chat(
        base.model, base.tokenizer, [{"role": "user", "content": question}], config.generation
    )
    print(f"Q: {question}")
    print(f"A: {result.text}")
    print(
        f"({m.name_or_path}, raw model: loaded in {loaded - start:.1f} s, "
        f"{result.generated_tokens} tokens in {time.perf_counter() - loaded:.1f} s)"
    )
    return 0
