"""Training throughput: supportkit's TrainingPipeline vs TRL's SFTTrainer, LoRA, same everything.

Same model (bundled SmolLM2-135M-Instruct, fp32), same LoRA (r=8, alpha 16, dropout 0.05, all
linear layers), the same 64 single-turn conversations of the project's dataset with the same
system prompt, batch 8, max_length 256, learning rate 1e-3, 8 optimizer steps (one epoch), loss on
the answer only (TRL: prompt-completion data, completion_only_loss). TRL's CPU defaults are
``bf16=True`` and ``gradient_checkpointing=True``, both slow on these CPUs, so they are pinned off;
a second TRL row adds ``padding_free=True``. Runs are interleaved (ours, TRL, TRL padding-free, ...)
and compared as target (answer) tokens per second of training.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import machine_info, parse_args, write_result

NAME = "trl"
COMMAND = "python -m benchmarks.bench_trl"
ROOT = Path(__file__).resolve().parents[1]
TRL_CONFIG = {
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "learning_rate": 1e-3,
    "num_train_epochs": 1,
    "max_length": 256,
    "bf16": False,
    "fp16": False,
    "gradient_checkpointing": False,
    "completion_only_loss": True,
    "packing": False,
    "lr_scheduler_type": "linear",
    "warmup_steps": 0,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "logging_steps": 100,
    "save_strategy": "no",
    "report_to": [],
    "seed": 42,
    "dataloader_num_workers": 0,
    "use_cpu": True,
}


def _conversations(n: int) -> list[Any]:
    from supportkit.data.readers import read_conversations

    rows, _ = read_conversations(ROOT / "data" / "store" / "conversations.jsonl")
    return [c for c in rows if len(c.messages) == 2][:n]


def ours(config: Any, conversations: list[Any], steps: int) -> float:
    from supportkit.data.loader import DataLoader
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.training import TrainingPipeline

    model = PEFTModel(config)
    loader = DataLoader(config, model.tokenizer)
    examples, _ = loader.tokenize(conversations)
    train = loader._dataloader(examples, shuffle=True)
    summary = TrainingPipeline(model, config).train(train)
    assert summary.steps == steps
    return summary.tokens_per_s


def trl_run(config: Any, conversations: list[Any], system: str, padding_free: bool, work: Path) -> float:
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from datasets import Dataset
    from supportkit.models.loading import load_tokenizer, resolve_model_dir

    model_dir = resolve_model_dir(config.model.name_or_path)
    tokenizer = load_tokenizer(model_dir)
    rows = [
        {
            "prompt": [{"role": "system", "content": system}, {"role": "user", "content": c.question}],
            "completion": [{"role": "assistant", "content": c.answer}],
        }
        for c in conversations
    ]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32")
    lora = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    args = SFTConfig(output_dir=str(work / "trl"), padding_free=padding_free, **TRL_CONFIG)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora,
    )
    targets = sum(sum(m) for m in trainer.train_dataset["completion_mask"])
    started = time.perf_counter()
    trainer.train()
    return targets / (time.perf_counter() - started)


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    from supportkit.config import Config
    from supportkit.prompts.prompt_sets import load_prompt_set

    work = Path(tempfile.mkdtemp(prefix="bench-trl-"))
    n = 16 if quick else 64
    steps = n // 8
    overrides = [
        f"training.output_dir={work}/ours",
        "training.batch_size=8",
        f"training.max_steps={steps}",
        "training.learning_rate=1e-3",
        "training.eval_steps=null",
        "training.save_steps=null",
        "training.warmup_steps=0",
        "data.max_length=256",
        "lora.lora_dropout=0.05",
        "data.group_by_length=false",
    ]
    if quick:
        from benchmarks.datasets import tiny_model_dir

        overrides.append(f"model.name_or_path={tiny_model_dir(work)}")
    config = Config().with_overrides(overrides)
    conversations = _conversations(n)
    system = load_prompt_set(config.prompt.prompt_set).system
    values: dict[str, list[float]] = {
        "supportkit TrainingPipeline": [],
        "TRL SFTTrainer": [],
        "TRL SFTTrainer, padding_free": [],
    }
    for _ in range(repeats or (1 if quick else 2)):
        values["supportkit TrainingPipeline"].append(ours(config, conversations, steps))
        values["TRL SFTTrainer"].append(trl_run(config, conversations, system, False, work))
        values["TRL SFTTrainer, padding_free"].append(trl_run(config, conversations, system, True, work))
    best_trl = max(
        statistics.median(values["TRL SFTTrainer"]), statistics.median(values["TRL SFTTrainer, padding_free"])
    )
    ours_median = statistics.median(values["supportkit TrainingPipeline"])
    rows = [
        {
            "trainer": name,
            "target tokens/s (median)": f"{statistics.median(v):.1f}",
            "runs": ", ".join(f"{x:.1f}" for x in v),
            "vs better TRL row": f"{statistics.median(v) / best_trl:.2f}x",
        }
        for name, v in values.items()
    ]
    return {
        "title": "Training throughput: TrainingPipeline vs TRL SFTTrainer (LoRA)",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "model": "tiny random Llama" if quick else "SmolLM2-135M-Instruct (bundled), fp32, CPU",
        "config": f"{n} conversations, batch 8, {steps} steps, max_length 256; TRL SFTConfig: {TRL_CONFIG}",
        "rows": rows,
        "ratio": {
            "label": "supportkit / better TRL row (target >= 1.2)",
            "value": f"{ours_median / best_trl:.2f}x",
        },
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or NAME, argv)
    print(write_result(NAME, run(quick=args.quick, repeats=args.repeats), quick=args.quick))


if __name__ == "__main__":
    main()
