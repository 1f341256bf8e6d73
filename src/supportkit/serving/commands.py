"""``supportkit serve`` (the HTTP API) and ``supportkit keys`` (make API keys and their salted hashes)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from pathlib import Path
from typing import Any

from supportkit.cli import add_config_arguments, command, load_config
from supportkit.errors import ConfigError, SupportKitError

log = logging.getLogger(__name__)


def _configure_serve(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback --host without API keys (anyone who can reach it may use it)",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_model_id(name_or_path: str) -> str:
    """The ``model`` name clients use for the base: the last part of the model's name or path."""
    return name_or_path.rstrip("/").split(":")[-1].split("/")[-1] or name_or_path


def build_server(config: Any, *, embedder: Any = None, project_defaults: bool = True) -> Any:
    """Load the model, the declared adapters (validated: files, base fingerprint) and the app.

    ``embedder`` replaces the default sentence embedder; ``project_defaults`` fills unset data paths
    with the project's own data (a source checkout).

    Raises:
        ConfigError: an adapter directory is missing, incomplete, unsafe or trained on another base
            (the message names the ``serving.adapters`` entry).
    """
    from supportkit.data.project import apply_project_defaults
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.inference import InferencePipeline
    from supportkit.serving.app import create_app

    if project_defaults:
        config = apply_project_defaults(config)
    if config.generation.batch_size < config.serving.max_batch_size:  # one engine batch, one decode call
        config.generation.batch_size = config.serving.max_batch_size
    model = PEFTModel(config)
    for name, path in config.serving.adapters.items():
        if not Path(path).is_dir():
            raise ConfigError(f"serving.adapters.{name}: {path} is not a directory")
        previous = model.active_adapter
        try:
            model.load_adapter(path, name)
        except (SupportKitError, OSError) as exc:  # missing files, another base, unsafe weights, ...
            raise ConfigError(f"serving.adapters.{name}: {exc}") from exc
        model.set_adapter(previous)
    pipeline = InferencePipeline(model, config, embedder=embedder)
    base = base_model_id(config.model.name_or_path)
    return create_app(
        pipeline,
        pipeline.store,
        config.serving,
        base_id=base,
        base_aliases=[config.model.name_or_path],
        history_turns=config.prompt.history_turns,
    )


@command("serve", "serve the assistant over an OpenAI-compatible HTTP API", _configure_serve)
def run_serve(args: argparse.Namespace) -> int:
    # Spinning OpenMP threads made decode 3-7x slower on a shared machine; must precede importing torch.
    if "torch" in sys.modules:
        log.warning("torch was imported before 'serve' could set OMP_WAIT_POLICY=PASSIVE")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import uvicorn

    from supportkit.serving.auth import load_keyring

    config = load_config(args)
    keys = load_keyring(config.serving.api_keys_file)
    if not is_loopback(args.host) and not keys.enabled and not args.insecure:
        raise ConfigError(
            f"refusing to serve on {args.host} without API keys: set SUPPORTKIT_API_KEYS or "
            "serving.api_keys_file (see 'supportkit keys new'), or pass --insecure"
        )
    app = build_server(config)
    print(f"supportkit: serving on http://{args.host}:{args.port} (keys {'on' if keys.enabled else 'off'})")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def _configure_keys(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action", choices=["new", "hash"], help="new: make a key; hash: hash a key read from stdin"
    )
    p.add_argument("--scope", choices=["chat", "admin"], default="chat")
    p.add_argument("--name", default="key", help="a label for the key (shown in logs, never the key)")


@command("keys", "make an API key and the line for serving.api_keys_file", _configure_keys)
def run_keys(args: argparse.Namespace) -> int:
    from supportkit.serving.auth import hash_key, new_key

    if not args.name.isidentifier():
        raise ConfigError(f"--name {args.name!r} must be an identifier such as web_widget")
    if args.action == "new":
        key = new_key()
        print(f"api key (give it to the client; it is stored nowhere): {key}")
    else:
        key = sys.stdin.readline().strip()
        if not key:
            raise ConfigError("pipe the key on stdin: echo KEY | supportkit keys hash --scope chat")
    print(f"line for serving.api_keys_file: {args.name} {args.scope} {hash_key(key)}")
    return 0
