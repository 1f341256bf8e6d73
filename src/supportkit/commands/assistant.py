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

from supportkit.cli import add_config_arguments, checked_config, command, load_config
from supportkit.errors import RequestError
from supportkit.guardrails.inputs import check_query, preview, truncation_notice
from supportkit.guardrails.language import language_name


def _add_answer_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strategy",
        default=None,
        help="auto (knowledge when a knowledge base is set), zero_shot, few_shot, cot, role_context, "
        "knowledge, combined",
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
    from supportkit.recipes.assistant import build_pipeline, serving_precision

    _check_strategy(args.strategy)
    config = checked_config(args, adapters={"--adapter": args.adapter})
    serving_precision(config)  # chat loads the model as `serve` does
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
        try:
            handle = pipeline.stream(query, args.strategy, role=args.role, user_id=args.user_id)
        except RequestError as exc:  # e.g. a line of control characters only: say so, keep chatting
            print(f"error: {exc}", flush=True)
            continue
        print("assistant: ", end="", flush=True)
        for chunk in handle:
            print(chunk, end="", flush=True)
        print()
        response = handle.response
        if response is not None:
            _print_notes(response)
        if args.show_meta and response is not None:
            _print_meta(response)
    return 0


def _check_strategy(name: str | None) -> None:
    """An unknown ``--strategy`` fails before the model loads (naming the closest strategy)."""
    if name is not None:
        from supportkit.recipes.preflight import check_strategy

        check_strategy(name, where="--strategy")


def _print_notes(response: Any) -> None:
    """What a person must know about how the question was taken: cut, or in another language."""
    notice = truncation_notice(response.input_truncated)
    if notice:
        print(f"    {notice}")
    language = response.language or {}
    if language and not language.get("supported", True):
        action = "handed to a person" if response.escalate else "answered in a supported language"
        print(
            f"    note: the question looks {language_name(language['code'])} ({language['code']}), "
            f"not one of model.languages; {action} (guardrails.unsupported_language)"
        )


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
    start = time.perf_counter()
    check_query(args.question, max_chars=None)  # an empty question fails before the model loads
    if args.raw:
        return _ask_raw(args.question, load_config(args), start)
    from supportkit.recipes.assistant import build_pipeline, serving_precision

    _check_strategy(args.strategy)
    config = checked_config(args, adapters={"--adapter": args.adapter})
    serving_precision(config)  # ask loads the model as `serve` does
    pipeline = build_pipeline(config, args.adapter)
    loaded = time.perf_counter()
    response = pipeline.respond(args.question, args.strategy, role=args.role, user_id=args.user_id)
    print(f"Q: {preview(args.question)}")
    print(f"A: {response.text}")
    _print_notes(response)
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
    checked = check_query(question, max_chars=config.guardrails.max_query_chars)
    base = load_base(
        m.name_or_path,
        device=m.device,
        dtype=m.dtype,
        trust_remote_code=m.trust_remote_code,
        threads=m.threads,
    )
    loaded = time.perf_counter()
    result = generate_chat(
        base.model, base.tokenizer, [{"role": "user", "content": checked.text}], config.generation
    )
    print(f"Q: {preview(question)}")
    notice = truncation_notice(checked.truncated)
    if notice:
        print(notice)
    print(f"A: {result.text}")
    print(
        f"({m.name_or_path}, raw model: loaded in {loaded - start:.1f} s, "
        f"{result.generated_tokens} tokens in {time.perf_counter() - loaded:.1f} s)"
    )
    return 0
