"""Commands about the installation and the model: ``env`` and ``prepare``."""

from __future__ import annotations

import argparse
import json

from supportkit.cli import command


def _configure_env(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


@command("env", "show versions, devices, cache paths and model fingerprint", _configure_env)
def run_env(args: argparse.Namespace) -> int:
    from supportkit.models.environment import environment_report

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
