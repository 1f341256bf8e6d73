"""Training cost per method: memory at batch x sequence 1x256, 4x256, 8x256, and tokens/s.

Each measurement runs in its own process (peak memory is per process): the model is loaded, the
optimizer built, then ``steps`` optimizer steps run on fixed random batches whose last 40 % of
tokens are labelled (like support answers after a prompt) while a sampler thread records RSS every
5 ms. Reported: peak RSS during training minus RSS before it (activations + gradients + optimizer
state), and the gradient + optimizer bytes implied by the trainable parameters (4 bytes x 3:
gradient and two AdamW moments). Variants: LoRA with and without "logits only where labels are",
with gradient checkpointing; full fine-tuning; and tokens/s per method at 4x256.
``--quick`` runs the tiny model at 1x64, with one variant and two methods.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.harness import machine_info, parse_args, write_result

NAME = "training"
COMMAND = "python -m benchmarks.bench_training"
ROOT = Path(__file__).resolve().parents[1]


def child(spec: dict[str, Any]) -> dict[str, Any]:
    import os
    import threading
    import time

    import psutil
    import torch

    from supportkit.config import Config
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.loss import token_loss_sum

    torch.manual_seed(0)
    overrides = [f"peft.method={spec['method']}", "lora.lora_dropout=0"]
    if spec.get("model_dir"):
        overrides.append(f"model.name_or_path={spec['model_dir']}")
    model = PEFTModel(Config().with_overrides(overrides))
    module = model.model
    module.train()
    if spec.get("checkpointing"):
        module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    batch, seq = spec["batch"], spec["seq"]
    vocab = module.config.vocab_size if hasattr(module, "config") else 49152
    ids = torch.randint(20, min(vocab, 49152), (batch, seq))
    labels = ids.clone()
    labels[:, : int(seq * 0.6)] = -100
    data = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    process = psutil.Process(os.getpid())
    before = process.memory_info().rss
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    def step() -> int:
        loss, n = token_loss_sum(module, data, logits_only_on_labels=spec.get("logits_only", True))
        (loss / n).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return n

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    step()  # warm-up (allocates optimizer state)
    started = time.perf_counter()
    tokens = sum(step() for _ in range(spec["steps"]))
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join()
    trainable = sum(p.numel() for p in params)
    return {
        "peak_delta_mb": (peak[0] - before) / 2**20,
        "grad_optimizer_mb": trainable * 4 * 3 / 2**20,
        "trainable": trainable,
        "target_tokens_per_s": tokens / elapsed,
        "seconds_per_step": elapsed / spec["steps"],
    }


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_training", "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"measurement {spec} failed: {proc.stderr[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    model_dir = None
    if quick:
        from benchmarks.datasets import tiny_model_dir

        model_dir = tiny_model_dir(Path(tempfile.mkdtemp()))
    sizes = [(1, 64)] if quick else [(1, 256), (4, 256), (8, 256)]
    steps = 1 if quick else 2
    rows = []
    for batch, seq in sizes:
        lora = measure({"method": "lora", "batch": batch, "seq": seq, "steps": steps, "model_dir": model_dir})
        full = measure({"method": "full", "batch": batch, "seq": seq, "steps": steps, "model_dir": model_dir})
        saved = 1 - lora["grad_optimizer_mb"] / full["grad_optimizer_mb"]
        rows.append(
            {
                "batch x seq": f"{batch}x{seq}",
                "LoRA peak (MB)": f"{lora['peak_delta_mb']:.0f}",
                "full peak (MB)": f"{full['peak_delta_mb']:.0f}",
                "LoRA / full peak": f"{lora['peak_delta_mb'] / max(full['peak_delta_mb'], 1e-9):.2f}",
                "grad+optimizer LoRA / full (MB)": (
                    f"{lora['grad_optimizer_mb']:.0f} / {full['grad_optimizer_mb']:.0f}"
                ),
                "grad+optimizer saved": f"{100 * saved:.1f}%",
            }
        )
    batch, seq = sizes[-1]
    variants = {
        "LoRA (default: logits only at labels)": {"method": "lora"},
        "LoRA, logits at every position": {"method": "lora", "logits_only": False},
        "LoRA + gradient checkpointing": {"method": "lora", "checkpointing": True},
    }
    if quick:  # a smoke run: one variant shows the rows are produced
        variants = dict(list(variants.items())[1:2])
    variant_rows = []
    for label, spec in variants.items():
        r = measure({**spec, "batch": batch, "seq": seq, "steps": steps, "model_dir": model_dir})
        variant_rows.append(
            {
                "variant": label,
                "peak (MB)": f"{r['peak_delta_mb']:.0f}",
                "s / step": f"{r['seconds_per_step']:.2f}",
            }
        )
    method_rows = []
    mb, ms = (2, 64) if quick else (4, 256)
    for method in ("lora", "bottleneck") if quick else ("lora", "dora", "ia3", "bottleneck", "full"):
        r = measure({"method": method, "batch": mb, "seq": ms, "steps": steps, "model_dir": model_dir})
        method_rows.append(
            {
                "method": method,
                "trainable": f"{r['trainable']:,}",
                "target tokens/s": f"{r['target_tokens_per_s']:.0f}",
                "s / step": f"{r['seconds_per_step']:.2f}",
                "peak (MB)": f"{r['peak_delta_mb']:.0f}",
            }
        )
    from benchmarks.report import table

    return {
        "title": "Training memory and speed per method",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "model": "tiny random Llama" if quick else "SmolLM2-135M-Instruct (bundled), fp32, CPU, AdamW",
        "rows": rows,
        "notes": [
            f"Variants at {batch}x{seq} (peak RSS during training minus before):",
            table(variant_rows),
            f"Per method at {mb}x{ms} (40 % of tokens labelled):",
            table(method_rows),
            "Target: LoRA saves >= 90 % of full fine-tuning's gradient + optimizer bytes at every size.",
        ],
    }


def main(argv: list[str] | None = None) -> None:
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
        return
    args = parse_args(__doc__ or NAME, argv)
    print(write_result(NAME, run(quick=args.quick, repeats=args.repeats), quick=args.quick))


if __name__ == "__main__":
    main()
