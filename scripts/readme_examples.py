"""Generate the README's prompt-strategy examples with the bundled model (greedy, deterministic).

    python scripts/readme_examples.py           # rewrite the block in README.md
    python scripts/readme_examples.py --check   # exit 1 if README.md differs from a fresh run

The block sits between the markers below; a test runs ``--check``.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START, END = "<!-- strategies:start -->", "<!-- strategies:end -->"
QUESTION = "I was charged twice for my order last week. Can you help?"
CONTEXT = {"account_type": "premium", "join_date": "2023-01-15", "previous_issues": "late delivery"}
STRATEGIES = ("zero_shot", "few_shot", "cot", "role_context", "knowledge", "combined")


def generate() -> str:
    import torch

    torch.set_num_threads(1)  # one thread: the same summation order, the same greedy tokens
    from supportkit import Config, InferencePipeline, PEFTModel

    config = Config().with_overrides(
        [
            "peft.method=none",
            "generation.max_new_tokens=64",
            "prompt.prompt_set=retail",  # the example store, by name
            f"prompt.few_shot_file={ROOT / 'data' / 'few_shot_examples.jsonl'}",
            f"knowledge.path={ROOT / 'data' / 'knowledge_base'}",
        ]
    )
    pipeline = InferencePipeline(PEFTModel(config), config)
    lines = [
        "```text",
        f"question: {QUESTION}",
        f"user_context: {CONTEXT}",
        "role: billing_specialist, model: bundled SmolLM2-135M-Instruct (no adapter), greedy, 64 new tokens",
    ]
    for strategy in STRATEGIES:
        r = pipeline.respond(QUESTION, strategy, user_context=CONTEXT, role="billing_specialist")
        lines.append("")
        tokens = f"{r.prompt_tokens}+{r.generated_tokens}"
        lines.append(f"[{strategy}]  role={r.role or '-'}  prompt={r.prompt_version}  tokens={tokens}")
        for e in r.examples:
            lines.append(f"  example ({e.similarity:.2f}, {e.intent}): {e.question}")
        for p in r.passages:
            lines.append(f"  article ({p.similarity:.2f}): {p.title}")
        if r.groundedness is not None:
            changes = ", ".join(r.guardrails) or "none"
            lines.append(f"  groundedness: {r.groundedness:.2f}; guardrails: {changes}")
        if r.reasoning:
            lines.append("  reasoning: " + " ".join(r.reasoning.split()))
        lines.extend(textwrap.wrap(r.text, 96, initial_indent="  answer: ", subsequent_indent="          "))
    lines.append("```")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"README.md lacks the {START} / {END} markers", file=sys.stderr)
        return 2
    head, rest = text.split(START, 1)
    current, tail = rest.split(END, 1)
    fresh = "\n" + generate() + "\n"
    if args.check:
        if current != fresh:
            print(
                "README.md strategy examples are stale; run: python scripts/readme_examples.py",
                file=sys.stderr,
            )
            print(fresh, file=sys.stderr)
            return 1
        return 0
    README.write_text(head + START + fresh + END + tail, encoding="utf-8")
    print(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
