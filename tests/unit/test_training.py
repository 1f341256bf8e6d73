"""Training on the tiny model: exact accumulation, what trains, evaluation, checkpoints, callbacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from supportkit import Config, PEFTModel
from supportkit.data.loader import DataLoader
from supportkit.data.tokenize import TokenizedExample
from supportkit.errors import ConfigError
from supportkit.pipelines.callbacks import Callback
from supportkit.pipelines.checkpoints import ResumeError
from supportkit.pipelines.training import TrainingPipeline
from supportkit.retrieval.embedder import HashingEmbedder

DATASET = Path(__file__).resolve().parents[2] / "data" / "store" / "conversations.jsonl"


def _config(tiny_config: Config, tmp_path: Path, *extra: str) -> Config:
    return tiny_config.with_overrides(
        [
            f"training.output_dir={tmp_path / 'run'}",
            f"data.train_file={DATASET}",
            "data.dedup_threshold=null",
            "lora.lora_dropout=0",
            "training.learning_rate=1e-2",
            "training.eval_steps=null",
            "training.save_steps=null",
            "generation.max_new_tokens=4",
            *extra,
        ]
    )


def _data(config: Config, tokenizer: Any, n: int | None = None) -> tuple[Any, Any]:
    loader = DataLoader(config, tokenizer)
    data = loader.prepare(embedder=HashingEmbedder())
    if n is not None:
        data.train = data.train[:n]
    return loader.dataloaders_for(data)


def _adapter_state(model: PEFTModel) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("method", ["lora", "bottleneck", "full"])
def test_accumulation_equals_one_large_batch(
    tiny_config: Config, smol_tokenizer: Any, tmp_path: Path, method: str
) -> None:
    results = []
    for batch_size, accumulation in ((4, 1), (2, 2), (1, 4)):
        config = _config(
            tiny_config,
            tmp_path / f"{batch_size}",
            f"peft.method={method}",
            "training.max_steps=1",
            f"training.batch_size={batch_size}",
            f"training.gradient_accumulation_steps={accumulation}",
            "data.group_by_length=false",
            # Adam's first step is about lr x sign(gradient): for gradients near its epsilon, float
            # rounding (different batch shapes) moves a weight by up to ~lr. 1e-4 keeps that below
            # the 1e-5 tolerance while any error in the loss normalisation would still show.
            "training.learning_rate=1e-4",
        )
        model = PEFTModel(config)
        loader = DataLoader(config, model.tokenizer)
        data = loader.prepare(embedder=HashingEmbedder())
        train = loader._dataloader(data.train[:4], shuffle=False)
        TrainingPipeline(model, config).train(train)
        results.append(_adapter_state(model))
    for other in results[1:]:
        assert max((results[0][k] - other[k]).abs().max().item() for k in results[0]) < 1e-5


def test_training_lowers_the_loss_and_only_adapters_move(
    tiny_config: Config, smol_tokenizer: Any, tmp_path: Path
) -> None:
    config = _config(
        tiny_config,
        tmp_path,
        "training.max_steps=12",
        "training.batch_size=4",
        "training.eval_steps=6",
        "training.eval_samples=2",
    )
    model = PEFTModel(config)
    frozen = {n: p.detach().clone() for n, p in model.model.named_parameters() if not p.requires_grad}
    train, val = _data(config, model.tokenizer, n=8)
    summary = TrainingPipeline(model, config).train(train, val)
    assert summary.steps == 12 and summary.world_size == 1 and summary.trainable_params == 16_384
    losses = [
        json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert losses[-1] < losses[0] - 0.3  # 12 steps over 8 conversations: memorisation starts
    evals = [
        json.loads(line)
        for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
        if "eval_val_loss" in line
    ]
    assert [e["step"] for e in evals] == [6, 12] and all(
        "eval_rougeL" in e and "eval_similarity" in e for e in evals
    )
    assert all(torch.equal(p, dict(model.model.named_parameters())[n]) for n, p in frozen.items())
    assert summary.best_step in (6, 12) and summary.peak_memory_mb > 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 12


@pytest.mark.parametrize("method", ["lora", "bottleneck", "prefix_tuning", "full"])
def test_logits_only_on_labels_gives_the_same_loss_and_gradients(
    tiny_config: Config, smol_tokenizer: Any, tmp_path: Path, method: str
) -> None:
    from supportkit.pipelines.loss import token_loss_sum

    config = _config(tiny_config, tmp_path, f"peft.method={method}")
    model = PEFTModel(config)
    train, _ = _data(config, model.tokenizer, n=4)
    batch = next(iter(train))
    assert (batch["attention_mask"] == 0).any()  # padded rows: padding must not count
    params = {n: p for n, p in model.model.named_parameters() if p.requires_grad}
    grads = {}
    for fast_path in (True, False):
        model.model.zero_grad(set_to_none=True)
        loss, n = token_loss_sum(model.model, batch, logits_only_on_labels=fast_path)
        loss.backward()
        grads[fast_path] = (
            loss.detach(),
            n,
            {k: p.grad.clone() for k, p in params.items() if p.grad is not None},
        )
    (fast, n1, g1), (full, n2, g2) = grads[True], grads[False]
    with torch.no_grad():
        reference = model.model(**batch).loss * n1  # transformers' own mean loss x tokens
    assert n1 == n2 and torch.allclose(fast, full, rtol=1e-5) and torch.allclose(fast, reference, rtol=1e-4)
    assert g1.keys() == g2.keys() and len(g1) > 0
    assert all(torch.allclose(g1[k], g2[k], rtol=1e-4, atol=1e-6) for k in g1)


def test_checkpoints_keep_last_k_and_best(tiny_config: Config, smol_tokenizer: Any, tmp_path: Path) -> None:
    config = _config(
        tiny_config,
        tmp_path,
        "training.max_steps=8",
        "training.save_steps=2",
        "training.save_total_limit=2",
        "training.eval_steps=2",
        "training.eval_samples=0",
        "training.batch_size=2",
    )
    model = PEFTModel(config)
    train, val = _data(config, model.tokenizer, n=6)
    summary = TrainingPipeline(model, config).train(train, val)
    kept = sorted(p.name for p in (tmp_path / "run").iterdir() if p.name.startswith("checkpoint-"))
    expected = {"checkpoint-000006", "checkpoint-000008", f"checkpoint-{summary.best_step:06d}"}
    assert set(kept) == expected
    ckpt = tmp_path / "run" / "checkpoint-000008"
    assert (ckpt / "adapter" / "adapter_model.safetensors").is_file()
    state = torch.load(ckpt / "training_state.pt", weights_only=True)  # no pickled objects inside
    assert set(state) == {"optimizer", "scheduler", "rng"}


def test_resume_refuses_other_data_or_config(
    tiny_config: Config, smol_tokenizer: Any, tmp_path: Path
) -> None:
    config = _config(
        tiny_config, tmp_path, "training.max_steps=2", "training.save_steps=2", "training.batch_size=2"
    )
    model = PEFTModel(config)
    train, _ = _data(config, model.tokenizer, n=4)
    TrainingPipeline(model, config).train(train)
    other_train, _ = _data(config, model.tokenizer, n=6)
    more = config.with_overrides(["training.max_steps=4"])
    with pytest.raises(ResumeError, match="different training data"):
        TrainingPipeline(PEFTModel(more), more).train(other_train, resume_from="auto")
    changed = more.with_overrides(["training.learning_rate=0.5"])
    with pytest.raises(ResumeError, match="different config"):
        TrainingPipeline(PEFTModel(changed), changed).train(train, resume_from="auto")
    forced = changed.with_overrides(["training.force_resume=true"])
    assert TrainingPipeline(PEFTModel(forced), forced).train(train, resume_from="auto").steps == 4


class _Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_train_begin(self, trainer: Any, state: Any) -> None:
        self.events.append("begin")

    def compute_loss(self, trainer: Any, module: Any, batch: dict[str, Any]) -> tuple[Any, int] | None:
        # A custom loss: plain (unmasked) language modelling over every real token.
        out = module(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        logits, ids = out.logits[:, :-1], batch["input_ids"][:, 1:]
        keep = batch["attention_mask"][:, 1:].bool()
        loss = torch.nn.functional.cross_entropy(logits[keep], ids[keep], reduction="sum")
        return loss, int(keep.sum())

    def on_step_end(self, trainer: Any, state: Any, metrics: dict[str, float]) -> None:
        self.events.append(f"step{state.global_step}")

    def on_evaluate(self, trainer: Any, state: Any, metrics: dict[str, float]) -> dict[str, float]:
        return {"answer_words": 3.0}

    def on_train_end(self, trainer: Any, summary: Any) -> None:
        self.events.append("end")


def test_callbacks_can_replace_the_loss_and_add_metrics(
    tiny_config: Config, smol_tokenizer: Any, tmp_path: Path
) -> None:
    config = _config(
        tiny_config, tmp_path, "training.max_steps=2", "training.eval_steps=2", "training.eval_samples=0"
    )
    model = PEFTModel(config)
    train, val = _data(config, model.tokenizer, n=4)
    recorder = _Recorder()
    TrainingPipeline(model, config, callbacks=[recorder]).train(train, val)
    assert recorder.events == ["begin", "step1", "step2", "end"]
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["eval_answer_words"] == 3.0


def test_early_stopping(tiny_config: Config, smol_tokenizer: Any, tmp_path: Path) -> None:
    config = _config(
        tiny_config,
        tmp_path,
        "training.max_steps=40",
        "training.eval_steps=1",
        "training.eval_samples=0",
        "training.early_stopping_patience=2",
        "training.learning_rate=5.0",
        "training.max_grad_norm=null",
    )
    model = PEFTModel(config)
    train, val = _data(config, model.tokenizer, n=4)
    summary = TrainingPipeline(model, config).train(train, val)
    assert summary.stopped_early and summary.steps < 40


def test_nothing_to_train_is_a_clear_error(tiny_config: Config, tmp_path: Path) -> None:
    config = _config(tiny_config, tmp_path, "peft.method=none", "training.max_steps=1")
    model = PEFTModel(config)
    loader = DataLoader(config, model.tokenizer)
    train = loader._dataloader([TokenizedExample([1, 2, 3], [1, 2, 3])], shuffle=False)
    with pytest.raises(ConfigError, match="no trainable parameters"):
        TrainingPipeline(model, config).train(train)


def test_runs_in_one_process_may_use_different_mixed_precision(
    tiny_config: Config, smol_tokenizer: Any, tmp_path: Path
) -> None:
    """accelerate keeps one process-wide state: a second run with another precision must still start."""
    seen = []
    for precision in ("no", "bf16", "no"):
        config = _config(
            tiny_config, tmp_path / precision, "training.max_steps=1", f"training.mixed_precision={precision}"
        )
        model = PEFTModel(config)
        train, _ = _data(config, model.tokenizer, n=4)
        pipeline = TrainingPipeline(model, config)
        assert pipeline.train(train).steps == 1
        seen.append(pipeline.accelerator.mixed_precision)
    assert seen == ["no", "bf16", "no"]
