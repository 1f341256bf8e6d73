"""The ``export`` command: a thin wrapper around :func:`supportkit.recipes.export.export_adapter`."""

from __future__ import annotations

import argparse
from pathlib import Path

from supportkit.cli import command, load_config
from supportkit.errors import ConfigError


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        help="a saved adapter directory, or a training CONFIG.yaml (exports <training.output_dir>/adapter)",
    )
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. model.name_or_path=DIR")
    p.add_argument(
        "--format",
        required=True,
        choices=["vllm-lora", "merged", "gguf", "gguf-lora"],
        dest="fmt",
        help="gguf: the merged model for llama.cpp; gguf-lora: a LoRA GGUF for llama.cpp's --lora",
    )
    p.add_argument("--gguf-dtype", default="f16", choices=["f16", "f32"], help="gguf: weight precision")
    p.add_argument("--out", default=None, help="directory to write (default: <adapter>-<format>)")
    p.add_argument("--base", default=None, help="vllm-lora: the base model name or path vLLM serves")
    p.add_argument("--name", default=None, help="the model name clients ask for (default: the adapter's)")
    p.add_argument("--no-verify", action="store_true", help="skip loading the export back and comparing")
    p.add_argument("--force", action="store_true", help="load the adapter even onto another base")


@command(
    "export", "write an adapter for vLLM or llama.cpp (GGUF), or a merged transformers model", _configure
)
def run_export(args: argparse.Namespace) -> int:
    from supportkit.recipes.export import export_adapter

    source = Path(args.source)
    config = None
    if source.is_dir():
        adapter = source
        if args.overrides:
            config = load_config(argparse.Namespace(config=None, overrides=args.overrides))
    elif source.suffix in (".yaml", ".yml") and source.is_file():
        config = load_config(argparse.Namespace(config=str(source), overrides=args.overrides))
        adapter = Path(config.training.output_dir) / "adapter"
    else:
        raise ConfigError(f"{source} is neither an adapter directory nor a YAML config file")
    out = Path(args.out) if args.out else adapter.with_name(f"{adapter.name}-{args.fmt}")
    result = export_adapter(
        adapter,
        out,
        fmt=args.fmt,
        config=config,
        base=args.base,
        name=args.name,
        verify=not args.no_verify,
        force=args.force,
        gguf_dtype=args.gguf_dtype,
    )
    print(f"wrote {result.path}: {', '.join(result.files)}")
    for line in result.notes:
        print(f"  {line}")
    for check in result.checks:
        print(f"  checked: {check.format()}")
    print(f"serve it with:\n  {result.command}")
    return 0
