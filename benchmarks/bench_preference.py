"""Learning from preferences: DPO (``training.objective=dpo``) on pairs built from the project's data.

Pairs come from the project's single-turn conversations (``data/store/conversations.jsonl``):
``chosen`` is the reference answer; ``rejected`` a fluent but wrong one: for every other question the
reference with one detail changed (another order number, amount or date digit), otherwise the
answer to a question of another intent. Questions are split once (seeded): DPO trains on the pairs of
the training questions through :class:`~supportkit.pipelines.preference.PreferencePipeline` (TRL's
``DPOTrainer``, a fresh LoRA on the bundled SmolLM2-135M-Instruct, so the reference is the base);
the held-out questions give

* the **preference accuracy** of held-out pairs: after training, the share whose implicit reward
  ``beta * (log pi(y|x) - log pi_ref(y|x))`` is higher for ``chosen`` (DPO's own measure; before
  training it is 0 for both, a tie); before and after, the share the model itself gives the higher
  log-probability to ``chosen`` (summed over the answer's tokens);
* **ROUGE-L and detail recall** of answers generated (zero-shot, greedy, the inference pipeline)
  before and after, with paired bootstrap intervals of the difference (``evaluation.stats``).
"""

from __future__ import annotations

import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import machine_info, parse_args, write_result

NAME = "preference"
COMMAND = "python -m benchmarks.bench_preference"
ROOT = Path(__file__).resolve().parents[1]
BETA = 0.1
BATCH = 4
_DIGITS = re.compile(r"\d")


def _conversations() -> list[Any]:
    from supportkit.data.readers import read_conversations

    rows, _ = read_conversations(ROOT / "data" / "store" / "conversations.jsonl")
    return [c for c in rows if len(c.messages) == 2]


def corrupt(answer: str, rng: random.Random) -> str | None:
    """``answer`` with one detail (order number, amount, date) changed; ``None`` when it has none."""
    from supportkit.evaluation.metrics import DETAIL

    found = [m for m in DETAIL.finditer(answer) if _DIGITS.search(m.group())]
    if not found:
        return None
    match = rng.choice(found)
    text = match.group()
    spots = [i for i, ch in enumerate(text) if ch.isdigit()]
    i = rng.choice(spots)
    new = str((int(text[i]) + rng.randint(1, 8)) % 10)
    return answer[: match.start()] + text[:i] + new + text[i + 1 :] + answer[match.end() :]


def build_pairs(conversations: list[Any], seed: int = 0) -> list[dict[str, Any]]:
    """One pair per question: a changed detail (every other question that has one) or another
    intent's answer."""
    rng = random.Random(seed)
    pairs = []
    for n, c in enumerate(conversations):
        question, answer = c.messages[0]["content"], c.messages[1]["content"]
        rejected = corrupt(answer, rng) if n % 2 == 0 else None
        kind = "wrong detail"
        if rejected is None:
            others = [o for o in conversations if o.intent != c.intent]
            rejected, kind = rng.choice(others).messages[1]["content"], "other intent"
        pairs.append(
            {
                "prompt": [{"role": "user", "content": question}],
                "chosen": [{"role": "assistant", "content": answer}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "kind": kind,
            }
        )
    return pairs


def answer_logps(model: Any, system: str, pairs: list[dict[str, Any]], key: str, *, ref: bool) -> list[float]:
    """Summed log-probability of each pair's ``key`` answer (``ref``: with the adapter disabled)."""
    import contextlib

    import torch

    from supportkit.models.tokenizer import encode_chat

    module, out = model.model, []
    context = module.disable_adapter() if ref else contextlib.nullcontext()
    module.eval()
    with context, torch.inference_mode():
        for pair in pairs:
            prompt = [{"role": "system", "content": system}, *pair["prompt"]]
            head = encode_chat(model.tokenizer, prompt, add_generation_prompt=True)
            full = encode_chat(model.tokenizer, prompt + pair[key], add_generation_prompt=False)
            ids = torch.tensor([full], device=model.device)
            logits = module(input_ids=ids).logits[0, :-1].float()
            logp = torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None])[:, 0]
            out.append(float(logp[len(head) - 1 :].sum()))
    return out


def preference_scores(model: Any, system: str, pairs: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per pair: 1.0 when the implicit reward / the log-probability favours ``chosen``."""
    pol_c = answer_logps(model, system, pairs, "chosen", ref=False)
    pol_r = answer_logps(model, system, pairs, "rejected", ref=False)
    ref_c = answer_logps(model, system, pairs, "chosen", ref=True)
    ref_r = answer_logps(model, system, pairs, "rejected", ref=True)
    return {
        "reward": [
            float(BETA * (pc - rc) > BETA * (pr - rr))
            for pc, rc, pr, rr in zip(pol_c, ref_c, pol_r, ref_r, strict=True)
        ],
        "logp": [float(c > r) for c, r in zip(pol_c, pol_r, strict=True)],
    }


def generate(model: Any, config: Any, questions: list[str]) -> list[str]:
    from supportkit.pipelines.inference import InferencePipeline

    pipeline = InferencePipeline(model, config)
    return [
        r.text for r in pipeline.respond_batch([{"query": q, "strategy": "zero_shot"} for q in questions])
    ]


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    from supportkit.config import Config
    from supportkit.data.preferences import PreferenceData
    from supportkit.evaluation.metrics import score
    from supportkit.evaluation.sampling import stratified_sample
    from supportkit.evaluation.stats import bootstrap_mean, paired_difference
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.preference import PreferencePipeline
    from supportkit.prompts.prompt_sets import load_prompt_set

    work = Path(tempfile.mkdtemp(prefix="bench-preference-"))
    n_train, n_held, n_gen, steps = (16, 8, 4, 2) if quick else (160, 40, 24, 30)
    overrides = [
        f"training.output_dir={work}/dpo",
        "training.objective=dpo",
        f"training.batch_size={BATCH}",
        f"training.max_steps={steps}",
        "training.learning_rate=5e-4",
        f"training.beta={BETA}",
        "training.logging_steps=4",
        "training.eval_steps=null",
        "training.save_steps=null",
        "data.max_length=256",
        "data.val_split=0.0",
        "data.train_split=0.9",
        "generation.max_new_tokens=64",
    ]
    if quick:
        from benchmarks.datasets import tiny_model_dir

        overrides += [f"model.name_or_path={tiny_model_dir(work)}", "generation.max_new_tokens=8"]
    config = Config().with_overrides(overrides)
    system = load_prompt_set(config.prompt.prompt_set).system
    conversations = _conversations()
    random.Random(7).shuffle(conversations)
    # held out: stratified by intent (every intent present when n_held >= the number of intents)
    held_conv = stratified_sample(conversations, n_held, key=lambda c: c.intent, seed=7)
    held_ids = {id(c) for c in held_conv}
    train_conv = [c for c in conversations if id(c) not in held_ids][:n_train]
    train_pairs, held_pairs = build_pairs(train_conv, seed=1), build_pairs(held_conv, seed=2)
    gen_conv = stratified_sample(held_conv, n_gen, key=lambda c: c.intent, seed=7)
    gen_q = [c.messages[0]["content"] for c in gen_conv]
    gen_ref = [c.messages[1]["content"] for c in gen_conv]
    intents = len({c.intent for c in gen_conv})

    model = PEFTModel(config)
    before_pref = preference_scores(model, system, held_pairs)
    before_answers = generate(model, config, gen_q)
    data = PreferenceData("bench", "dpo", [{k: v for k, v in p.items() if k != "kind"} for p in train_pairs])
    started = time.perf_counter()
    summary = PreferencePipeline(model, config).train(data, system=system)
    train_s = time.perf_counter() - started
    after_pref = preference_scores(model, system, held_pairs)
    after_answers = generate(model, config, gen_q)

    before = score(before_answers, gen_ref, ["rougeL", "detail_recall"])
    after = score(after_answers, gen_ref, ["rougeL", "detail_recall"])
    rows = [
        {
            "measure": "preference accuracy (implicit reward, held-out pairs)",
            "before": "tie (policy = reference)",
            "after": bootstrap_mean(after_pref["reward"]).format(),
            "difference": "",
        },
        {
            "measure": "log-probability prefers chosen (held-out pairs)",
            "before": bootstrap_mean(before_pref["logp"]).format(),
            "after": bootstrap_mean(after_pref["logp"]).format(),
            "difference": paired_difference(after_pref["logp"], before_pref["logp"]).format(),
        },
    ]
    for kind in ("wrong detail", "other intent"):
        idx = [i for i, p in enumerate(held_pairs) if p["kind"] == kind]
        rows.append(
            {
                "measure": f"  of which rejected = {kind} ({len(idx)} pairs): implicit reward",
                "before": "tie",
                "after": bootstrap_mean([after_pref["reward"][i] for i in idx]).format(),
                "difference": "",
            }
        )
    for metric in ("rougeL", "detail_recall"):
        pairs_ok = [
            (a, b)
            for a, b in zip(after[metric], before[metric], strict=True)
            if a == a and b == b  # detail recall is NaN for answers without details
        ]
        rows.append(
            {
                "measure": f"{metric} of generated answers ({len(pairs_ok)} held-out questions)",
                "before": bootstrap_mean([b for _, b in pairs_ok]).format(),
                "after": bootstrap_mean([a for a, _ in pairs_ok]).format(),
                "difference": paired_difference([a for a, _ in pairs_ok], [b for _, b in pairs_ok]).format(),
            }
        )
    return {
        "title": "Learning from preferences: DPO on pairs from the project's data",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "model": "tiny random Llama" if quick else "SmolLM2-135M-Instruct (bundled), fp32, CPU, LoRA r=8",
        "config": (
            f"{len(train_pairs)} training pairs, {steps} DPO steps of {BATCH} pairs, lr 5e-4, beta {BETA}; "
            f"{len(held_pairs)} held-out pairs; {len(gen_q)} held-out questions ({intents} intents, "
            "stratified) answered zero-shot "
            f"(greedy, max {config.generation.max_new_tokens} new tokens); 95% bootstrap intervals"
        ),
        "notes": [
            f"DPO training: {round(train_s, 1)} s for {summary.steps} steps "
            f"(final loss {summary.final_loss:.4f}). "
            "Target: held-out preference accuracy >= 0.8 and no significant ROUGE-L loss (the interval of "
            "the difference not entirely below 0).",
            "Before training the policy equals the reference, so every implicit reward is 0 (a tie); the "
            "log-probability row shows what the untrained model itself preferred.",
        ],
        "train_s": round(train_s, 1),
        "final_loss": summary.final_loss,
        "rows": rows,
        "samples": [
            {"question": q, "before": b, "after": a}
            for q, b, a in zip(gen_q[:3], before_answers[:3], after_answers[:3], strict=True)
        ],
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or NAME, argv)
    result = run(quick=args.quick, repeats=args.repeats)
    for row in result["rows"]:
        print(f"{row['measure']}: {row['before']} -> {row['after']}  diff {row['difference']}")
    print(result["config"], *result["notes"], sep="\n")
    print(write_result(NAME, result, quick=args.quick))


if __name__ == "__main__":
    main()
