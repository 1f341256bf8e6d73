"""llama.cpp, the decoding peer: speed on the bundled GGUF and on supportkit's GGUF export, and
whether llama.cpp decodes the exports (merged GGUF, GGUF LoRA on the base) to transformers' tokens.

1. ms/token at batch 1 (decode only, and time to first token) and aggregate generated tokens/s at
   1/4/8/16 concurrent sequences (one ``llama_decode`` per step for all), 48 greedy tokens, 2 threads,
   interleaved rounds: the bundled Q4_1 GGUF and the f16 GGUF ``supportkit export`` writes.
2. Greedy tokens (32, stopping at end of turn) on support questions: llama.cpp on each GGUF vs
   transformers fp32 on the same weights (base; a q/k LoRA merged and as ``--lora``).

The peer is built by ``make bench-peers`` (benchmarks/peers/llamacpp.py). Where it is not built the
last measured result (benchmarks/results/llamacpp.json) is kept as it is, with a note naming its date.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.harness import machine_info, parse_args, write_result

NAME = "llamacpp"
COMMAND = "python -m benchmarks.bench_llamacpp"
TITLE = "llama.cpp peer: decode speed on GGUF, and the GGUF exports decoded by llama.cpp"
_KEPT = "llama-cpp-python is not built here (make bench-peers): the figures measured"


def kept_result(quick: bool = False) -> dict[str, Any]:
    """The last measured result with a note that it was kept; with none, one row saying how to measure."""
    from benchmarks import harness

    path = harness.RESULTS_DIR / f"{NAME}.json"
    if not path.is_file():
        return {
            "title": TITLE,
            "command": COMMAND + (" --quick" if quick else ""),
            "machine": machine_info(),
            "rows": [{"llama.cpp": "not measured: run `make bench-peers` (builds llama-cpp-python once)"}],
        }
    kept = json.loads(path.read_text(encoding="utf-8"))
    kept.pop("name", None), kept.pop("quick", None)
    if quick:
        kept["command"] = COMMAND + " --quick"
    date = (kept.get("machine") or {}).get("date", "?")
    notes = [n for n in kept.get("notes", []) if not n.startswith(_KEPT)]
    kept["notes"] = [f"{_KEPT} on {date} are kept.", *notes]
    return kept


def _agreement(got: list[list[int]], want: list[list[int]]) -> str:
    same = sum(g == w for g, w in zip(got, want, strict=True))
    positions = sum(max(len(g), len(w)) for g, w in zip(got, want, strict=True))
    equal = sum(a == b for g, w in zip(got, want, strict=True) for a, b in zip(g, w, strict=False))
    return f"{same}/{len(want)} identical, {equal / positions:.0%} of positions"


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    from benchmarks.peers import llamacpp as peer

    if not peer.available():
        return kept_result(quick)
    import tempfile

    import torch

    from benchmarks.bench_decode import QUESTIONS
    from supportkit.config import Config
    from supportkit.models.gguf_cache import find_bundled_gguf
    from supportkit.models.gguf_export import write_gguf_model
    from supportkit.models.peft import PEFTModel
    from supportkit.models.tokenizer import encode_chat
    from supportkit.recipes.export import export_adapter

    new_tokens, sizes = (8, (1, 4)) if quick else (48, (1, 4, 8, 16))
    model_args = []  # --quick: the tiny random Llama, and its f16 export stands in for the bundled GGUF
    if quick:
        from benchmarks.datasets import tiny_model_dir

        model_args = [f"model.name_or_path={tiny_model_dir(Path(tempfile.mkdtemp()))}"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-llamacpp-"))
    base = PEFTModel(Config().with_overrides(["peft.method=none", *model_args]))
    tok = base.tokenizer
    prompts = [encode_chat(tok, [{"role": "user", "content": q}]) for q in QUESTIONS]
    f16 = tmp / "smollm2-f16.gguf"
    write_gguf_model(base.model, tok, f16, dtype="f16", name="smollm2-f16")
    bundled = f16 if quick else find_bundled_gguf("smollm2-135m-instruct")

    speed_rows = []
    for label, path in (("bundled Q4_1 GGUF", bundled), ("supportkit export, f16 GGUF", f16)):
        m = peer.measure_llamacpp(
            path,
            prompts,
            new_tokens=new_tokens,
            batch_sizes=sizes,
            threads=2,
            repeats=repeats or (1 if quick else 3),
        )
        row = {
            "GGUF": label,
            "batch 1 decode ms/token": f"{m['batch1']['decode_ms_per_token']:.1f}",
            "batch 1 TTFT": f"{1000 * m['batch1']['ttft_s']:.0f} ms",
        }
        row |= {f"tokens/s at {n}": f"{m['aggregate'][n]['tokens_per_s']:.1f}" for n in sizes}
        speed_rows.append(row)

    # greedy agreement: transformers fp32 vs llama.cpp on the exports
    def hf_greedy(module: Any) -> list[list[int]]:
        out = []
        with torch.inference_mode():
            for ids in prompts[:4]:
                x = torch.tensor([ids])
                g = module.generate(
                    input_ids=x,
                    attention_mask=torch.ones_like(x),
                    max_new_tokens=32,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                )
                out.append(g[0, x.shape[1] :].tolist())
        return out

    def last_logits(module: Any) -> Any:
        with torch.inference_mode():
            return module(input_ids=torch.tensor([prompts[0]])).logits[0, -1].float().numpy()

    base_tokens = hf_greedy(base.model)
    base_logits = last_logits(base.model)
    lora = PEFTModel(
        Config().with_overrides(
            ["peft.method=lora", "lora.target_modules=[q_proj,k_proj]", "lora.r=8", *model_args]
        ),
        adapter_name="probe",
    )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a q/k adapter that changes the answers (B is zero at initialisation)
        for n, p in lora.model.named_parameters():
            if "lora_B" in n:
                p.copy_(0.05 * torch.randn(p.shape, generator=generator))
    adapter_dir = lora.save_model(tmp / "adapter")
    lora_tokens = hf_greedy(lora.model)
    lora_logits = last_logits(lora.model)
    merged = export_adapter(adapter_dir, tmp / "merged", fmt="gguf", gguf_dtype="f32", name="probe")
    as_lora = export_adapter(adapter_dir, tmp / "lora", fmt="gguf-lora", name="probe")
    lora_gguf = tmp / "lora" / "probe-lora.gguf"
    cases = [
        ("bundled Q4_1 GGUF", bundled, None, base_tokens),
        ("exported f16 GGUF of the base", f16, None, base_tokens),
        ("exported merged GGUF (q/k LoRA, f32)", tmp / "merged" / "probe.gguf", None, lora_tokens),
        ("exported f16 base + GGUF LoRA (--lora)", f16, lora_gguf, lora_tokens),
        ("bundled Q4_1 GGUF + GGUF LoRA (--lora)", bundled, lora_gguf, lora_tokens),
    ]
    agreement_rows = []
    for label, path, lora_path, want in cases:
        got = peer.greedy_llamacpp(path, prompts[:4], new_tokens=32, threads=2, lora=lora_path)
        logits = peer.logits_llamacpp(path, prompts[0], threads=2, lora=lora_path)
        reference = lora_logits if want is lora_tokens else base_logits
        agreement_rows.append(
            {
                "llama.cpp on": label,
                "greedy tokens vs transformers fp32": _agreement(got, want),
                "next-token logits, max abs diff (question 1)": f"{abs(logits - reference).max():.3f}",
            }
        )
    agreement_rows.append(
        {
            "llama.cpp on": "(reference: transformers' base vs its LoRA model)",
            "greedy tokens vs transformers fp32": _agreement(base_tokens, lora_tokens),
            "next-token logits, max abs diff (question 1)": f"{abs(base_logits - lora_logits).max():.3f}",
        }
    )
    return {
        "title": TITLE,
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "model": f"SmolLM2-135M-Instruct; {peer.VERSION} llama-cpp-python built {peer.built_on()} "
        f"(make bench-peers); 2 threads, greedy, {new_tokens} tokens, OMP_WAIT_POLICY=PASSIVE",
        "rows": speed_rows,
        "tables": [
            {
                "title": "Greedy tokens of the exports decoded by llama.cpp (4 questions, 32 tokens):",
                "rows": agreement_rows,
            }
        ],
        "notes": [
            "The last row is how far the probe q/k LoRA moves transformers' own outputs: the LoRA rows "
            "match the LoRA model rather than the base only if llama.cpp applies it, B of q/k permuted.",
            "Export checks: " + "; ".join(c.format() for c in [*merged.checks, *as_lora.checks]),
            "Peak memory is not measured here (one process holds both engines).",
        ],
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or NAME, argv)
    print(write_result(NAME, run(quick=args.quick, repeats=args.repeats), quick=args.quick))


if __name__ == "__main__":
    main()
