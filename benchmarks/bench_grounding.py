"""Grounding and safeguards: retrieval hit rate (dense vs hybrid), escalation precision/recall,
intent accuracy on the held-out split, and what happens to knowledge answers of the bundled model.

Labelled sets: ``data/eval/retrieval.jsonl`` (61 questions -> answering article),
``data/eval/escalation.jsonl`` (66 requests; 36 to escalate). Intent accuracy: the k-NN detector with
the train split of ``data/store/conversations.jsonl`` as labelled examples, on its test split.
Answer outcomes: the bundled SmolLM2 with the knowledge strategy on the retrieval questions.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from benchmarks.harness import machine_info, parse_args, round_robin, write_result

NAME = "grounding"
COMMAND = "python -m benchmarks.bench_grounding"


def _retrieval(rows: list[dict[str, Any]], embedder: Any, quick: bool, repeats: int | None) -> list[dict]:
    from supportkit.data.project import KNOWLEDGE_BASE
    from supportkit.evaluation.grounding import retrieval_hit_rate
    from supportkit.retrieval.knowledge import KnowledgeBase

    kbs = {"dense (MiniLM cosine)": KnowledgeBase(KNOWLEDGE_BASE, embedder=embedder, hybrid=False)}
    for weight in (0.1, 0.2, 0.3):
        kbs[f"hybrid (cosine + {weight} BM25)"] = KnowledgeBase(
            KNOWLEDGE_BASE, embedder=embedder, hybrid=True, bm25_weight=weight
        )
    queries = [r["question"] for r in rows]

    def per_query(kb: Any) -> Any:
        def run() -> float:
            start = time.perf_counter()
            for q in queries:
                kb.search(q + " ", 3)  # a fresh string: the embedding is computed each time
            return (time.perf_counter() - start) / len(queries)

        return run

    stats = round_robin(
        {name: per_query(kb) for name, kb in kbs.items()},
        baseline="dense (MiniLM cosine)",
        repeats=repeats or (1 if quick else 5),
        measure=lambda fn: fn(),
    )
    out = []
    for name, kb in kbs.items():
        score = retrieval_hit_rate(kb, rows, 3)
        out.append(
            {
                "retrieval": name,
                "questions": score.questions,
                "hit@1": f"{score.hit_at_1:.3f}",
                "hit@3": f"{score.hit_at_k:.3f}",
                "ms / query": f"{1000 * stats[name]['value']['median']:.1f}",
                "time vs dense": f"{stats[name]['ratio']['median']:.2f}x",
            }
        )
    return out


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    from supportkit import PEFTModel
    from supportkit.config import Config
    from supportkit.data.project import CONVERSATIONS, ESCALATION_EVAL, RETRIEVAL_EVAL, use_example_store
    from supportkit.data.readers import read_conversations
    from supportkit.data.splits import split_conversations
    from supportkit.evaluation.grounding import escalation_scores, read_labelled
    from supportkit.guardrails.intent import IntentDetector
    from supportkit.pipelines.inference import InferencePipeline
    from supportkit.retrieval.bank import ExampleBank

    config = use_example_store(Config().with_overrides(["peft.method=none", "generation.max_new_tokens=64"]))
    pipeline = InferencePipeline(PEFTModel(config), config)
    embedder = pipeline.bank.embedder
    retrieval_rows = read_labelled(RETRIEVAL_EVAL, ["question", "article"])
    escalation_rows = read_labelled(ESCALATION_EVAL, ["query", "escalate"])

    rows = _retrieval(retrieval_rows, embedder, quick, repeats)

    esc = escalation_scores(pipeline.guard, escalation_rows)
    by_reason = Counter(r["reason"] for r in escalation_rows)
    escalation_row = {
        "requests": esc.requests,
        "to escalate": sum(bool(r["escalate"]) for r in escalation_rows),
        "precision": f"{esc.precision:.3f}",
        "recall": f"{esc.recall:.3f}",
        "same reason": f"{esc.reason_agreement:.3f}",
        "labelled reasons": ", ".join(f"{k} {v}" for k, v in sorted(by_reason.items())),
    }

    conversations, _ = read_conversations(CONVERSATIONS)
    splits = split_conversations(conversations, seed=config.data.seed, embedder=embedder)
    labelled = ExampleBank(embedder=embedder)
    labelled.extend([c.to_qa() for c in splits.train])
    detector = IntentDetector(labelled, config.guardrails.intent_k)
    intent_accuracy = detector.accuracy([c.to_qa() for c in splits.test])

    questions = retrieval_rows[:6] if quick else retrieval_rows
    # Before/after #18.6: the old defaults (penalty on the prompt too, no "answers the question"
    # criterion) against the new ones, on the same model.
    settings = {
        "before (scope all, no answer check)": [
            "generation.repetition_penalty_scope=all",
            "guardrails.require_answer=false",
        ],
        "after (scope generated + answer check; defaults)": [],
    }
    outcome_rows: list[dict[str, Any]] = []
    answered: dict[str, str] = {}
    seconds = 0.0
    cited_right = 0
    for label, overrides in settings.items():
        variant = InferencePipeline(pipeline.model, config.with_overrides(overrides))
        outcomes: Counter[str] = Counter()
        cited = 0
        started = time.perf_counter()
        for row in questions:
            r = variant.respond(row["question"], strategy="knowledge")
            if r.escalate:
                outcomes[f"escalated ({r.escalation['reason'] if r.escalation else '?'})"] += 1
            elif r.guardrails.get("extractive_answer"):
                outcomes["article sentences quoted (model answer not sent)"] += 1
            else:
                outcomes["model answer kept"] += 1
            titles = {p.url.removesuffix(".md") for p in r.passages}
            cited += bool(r.citations) and row["article"] in titles and not r.escalate
        seconds += time.perf_counter() - started
        cited_right = cited
        kept = outcomes["model answer kept"]
        answered[label] = f"{kept}/{len(questions)}"
        outcome_rows += [
            {
                "settings": label,
                "knowledge answers (bundled SmolLM2, greedy)": k,
                "questions": v,
                "share": f"{v / len(questions):.2f}",
            }
            for k, v in sorted(outcomes.items())
        ]
    notes = [
        f"Escalation (before generation; {escalation_row['requests']} labelled requests): precision "
        f"{escalation_row['precision']}, recall {escalation_row['recall']} (targets >= 0.9); labels: "
        f"{escalation_row['labelled reasons']}. Misclassified: "
        + ("; ".join(f"{e['query']!r} (want {e['want']}, got {e['got']})" for e in esc.errors) or "none"),
        f"Intent detection (k-NN, k={config.guardrails.intent_k}, train split as labelled examples): "
        f"accuracy {intent_accuracy:.3f} on the {len(splits.test)} held-out test conversations.",
        f"Knowledge answers: {len(questions)} retrieval questions per setting in {seconds:.0f} s in all; "
        f"model answers kept: {', '.join(f'{k}: {v}' for k, v in answered.items())}; answers (new defaults) "
        f"that cite an article retrieved for the right topic: {cited_right}/{len(questions)}.",
    ]
    return {
        "title": "Grounding and safeguards (retrieval, escalation, intent, knowledge answers)",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "rows": rows,
        "tables": [
            {"title": "What the knowledge strategy sends (bundled model, no tuning)", "rows": outcome_rows}
        ],
        "notes": notes,
        "escalation": escalation_row,
        "intent_accuracy": intent_accuracy,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or NAME, argv)
    print(write_result(NAME, run(quick=args.quick, repeats=args.repeats), quick=args.quick))


if __name__ == "__main__":
    main()
