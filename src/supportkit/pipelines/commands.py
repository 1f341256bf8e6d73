"""CLI subcommands owned by the pipelines: ``chat`` (interactive) and ``train``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from supportkit.cli import add_config_arguments, command, load_config
from supportkit.data.project import apply_project_defaults


def build_pipeline(config: Any, adapter_path: str | None = None) -> Any:
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.inference import InferencePipeline

    model = PEFTModel.from_saved(adapter_path, config) if adapter_path else PEFTModel(config)
    return InferencePipeline(model, apply_project_defaults(config))


def _configure_chat(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--strategy", default=None, help="zero_shot, few_shot, cot, role_context, combined")
    p.add_argument("--role", default=None, help="e.g. technical_support")
    p.add_argument("--user-id", default=None, help="remember history/profile under this id")
    p.add_argument("--adapter", default=None, help="a saved adapter directory to answer with")
    p.add_argument("--show-meta", action="store_true", help="print examples, reasoning and timing")


@command("chat", "chat with the assistant in the terminal (one question per line)", _configure_chat)
def run_chat(args: argparse.Namespace) -> int:
    config = load_config(args)
    pipeline = build_pipeline(config, args.adapter)
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


def _configure_train(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument(
        "--resume", default=None, help="'auto' (latest checkpoint in output_dir) or a checkpoint path"
    )


@command("train", "fine-tune the configured adaptation method on a data file", _configure_train)
def run_train(args: argparse.Namespace) -> int:
    from supportkit.data.loader import DataLoader
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.training import TrainingPipeline

    config = apply_project_defaults(load_config(args))
    model = PEFTModel(config)
    loader = DataLoader(config, model.tokenizer)
    data = loader.prepare()
    train_dl, val_dl = loader.dataloaders_for(data)
    sizes = data.splits.sizes()
    trainer = TrainingPipeline(model, config)
    if trainer_is_main():
        print(
            f"data: {config.data.train_file}: {sizes['train']} train / {sizes['validation']} validation / "
            f"{sizes['test']} test conversations ({data.truncated} truncated, "
            f"{data.skipped_rows} bad rows skipped)"
        )
        print(f"model: {config.model.name_or_path}, method {model.method}: {model.parameter_summary()}")
    summary = trainer.train(train_dl, val_dl, resume_from=args.resume)
    if trainer.accelerator.is_main_process:
        adapter = model.save_model(Path(config.training.output_dir) / "adapter")
        print(f"done: {summary.format()}")
        print(f"adapter saved to {adapter}; checkpoints and metrics.jsonl in {config.training.output_dir}")
    return 0


def trainer_is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
