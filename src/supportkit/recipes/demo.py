"""The end-to-end demo recipe (``make demo`` / ``supportkit demo``): fine-tune, evaluate, answer, report.

The demo is the bundled example store (Brightcart) by name: ``configs/demo.yaml`` plus
:func:`~supportkit.data.project.use_example_store` for anything it leaves unset.

1. Fine-tune a LoRA adapter on the project's dataset with a short step budget.
2. Evaluate the untuned base, the tuned model and the nearest-neighbour baseline on held-out
   questions; print the table with intervals and the paired differences.
3. Answer sample questions with every prompt strategy, showing retrieved articles and escalations.
4. Write the HTML/Markdown/JSON report and say where it is.

``quick`` shrinks every budget (2 steps, 4 questions, short answers) so a test can run it.
Training saves a checkpoint every ``training.save_steps`` and on SIGINT/SIGTERM;
``run_demo(config, resume_from="auto")`` (``supportkit demo --resume auto``) continues it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.data.project import DATA_DIR, use_example_store

DEMO_CONFIG = DATA_DIR.parent / "configs" / "demo.yaml"
STRATEGIES = ("zero_shot", "few_shot", "cot", "role_context", "knowledge", "combined")
SAMPLES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("How long do I have to return an item?", {}, STRATEGIES),
    (
        "I was charged twice for order BC-48213, can you fix it?",
        {"membership": "Plus"},
        ("zero_shot", "combined"),
    ),
    ("I want to speak to a person", {"name": "Sam"}, ("combined",)),
]


def demo_config(quick: bool, overrides: list[str] | None = None) -> Config:
    config = Config.from_yaml(DEMO_CONFIG) if DEMO_CONFIG.is_file() else Config()
    if quick:
        config = config.with_overrides(
            [
                "training.max_steps=2",
                "training.warmup_steps=0",
                "training.batch_size=4",
                "evaluation.max_examples=4",
                "generation.max_new_tokens=12",
                "training.output_dir=outputs/demo-quick/train",
                "evaluation.output_dir=outputs/demo-quick/report",
            ]
        )
    # the demo is the bundled example store by name: every path it leaves unset is the example's
    return use_example_store(config.with_overrides(overrides or []))


def run_demo(
    config: Config,
    *,
    quick: bool = False,
    resume_from: str | None = None,
    say: Callable[[str], None] = print,
) -> Path:
    """Run the demo; returns the HTML report's path. ``resume_from="auto"`` continues the training
    of an interrupted demo from its newest intact checkpoint."""
    from supportkit.evaluation.compare import evaluate_baseline, load_eval_data, train_bank
    from supportkit.evaluation.evaluator import Evaluator
    from supportkit.evaluation.report import format_summary, write_report
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.inference import InferencePipeline
    from supportkit.recipes.compare import parameter_info
    from supportkit.recipes.finetune import finetune
    from supportkit.retrieval.embedder import make_embedder

    started = time.perf_counter()
    e = config.evaluation
    data = load_eval_data(config, limit=e.max_examples)
    say(
        f"data: {config.data.train_file}: {len(data.splits.train)} train / {len(data.splits.test)} test "
        f"conversations; evaluating on {len(data.test)} held-out questions"
    )

    t = config.training
    say(f"\n1. Fine-tuning LoRA for {t.max_steps} steps (batch {t.batch_size}) ...")
    tuned_cfg = config.with_overrides(["peft.method=lora"])
    adapter_dir = Path(config.training.output_dir).parent / "adapter"
    trained = finetune(tuned_cfg, adapter_dir=adapter_dir, resume_from=resume_from)
    tuned = trained.model
    say(f"   {trained.summary.format()}\n   adapter saved to {trained.adapter}")

    say("\n2. Evaluating base vs tuned vs the nearest-neighbour baseline ...")
    bank = train_bank(data.train, make_embedder(config.knowledge.embedder))
    base_cfg = config.with_overrides(["peft.method=none"])
    base = InferencePipeline(PEFTModel(base_cfg), base_cfg, bank=bank)
    tuned_pipeline = InferencePipeline(tuned, tuned_cfg, bank=bank)
    systems = []
    for label, pipeline in (("base (untuned) + zero_shot", base), ("LoRA + zero_shot", tuned_pipeline)):
        evaluator = Evaluator(pipeline, intent_reference=data.train, resamples=e.bootstrap_resamples)
        info = parameter_info(pipeline.model)
        systems.append(
            evaluator.evaluate(data.test, name=label, strategy="zero_shot", info=info, progress=not quick)
        )
    systems.append(evaluate_baseline("nearest_neighbour", data, evaluator))
    say(format_summary(systems))

    say("\n3. Sample answers from the tuned model with each strategy:")
    for query, context, strategies in SAMPLES:
        say(f"\nQ: {query}" + (f"   (customer: {context})" if context else ""))
        for strategy in strategies:
            r = tuned_pipeline.respond(query, strategy, user_context=context)
            say(f"  [{strategy}] {r.text}")
            if r.passages:
                say(
                    f"      retrieved: {r.passages[0].title} ({r.passages[0].similarity:.2f})"
                    + (f"; groundedness {r.groundedness:.2f}" if r.groundedness is not None else "")
                )
            if r.escalation:
                say(
                    f"      ESCALATED ({r.escalation['reason']}); hand-off summary: "
                    f"{r.escalation['summary']['questions']}"
                )

    paths = write_report(
        e.output_dir,
        systems,
        title="supportkit demo: base vs LoRA vs nearest neighbour",
        comparisons=[(systems[1].name, systems[0].name), (systems[1].name, systems[2].name)],
        training_logs={"LoRA": config.training.output_dir},
    )
    say(f"\n4. Report: {paths.html.resolve()} (Markdown: {paths.markdown.name}, JSON: {paths.json.name})")
    say(f"demo finished in {time.perf_counter() - started:.0f} s")
    return paths.html
