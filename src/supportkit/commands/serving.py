"""``supportkit serve`` (the HTTP API) and ``supportkit keys`` (make API keys and their salted hashes)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from supportkit.cli import add_config_arguments, command, load_config
from supportkit.errors import ConfigError
from supportkit.serving.build import build_server, is_loopback

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


@command("serve", "serve the assistant over an OpenAI-compatible HTTP API", _configure_serve)
def run_serve(args: argparse.Namespace) -> int:
    # Spinning OpenMP threads made decode 3-7x slower on a shared machine; must precede importing torch.
    if "torch" in sys.modules:
        log.warning("torch was imported before 'serve' could set OMP_WAIT_POLICY=PASSIVE")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import uvicorn

    from supportkit.serving.auth import load_keyring

    config = load_config(args)  # build_server checks it all before the model loads
    keys = load_keyring(config.serving.api_keys_file)
    if not is_loopback(args.host) and not keys.enabled and not args.insecure:
        raise ConfigError(
            f"refusing to serve on {args.host} without API keys: set SUPPORTKIT_API_KEYS or "
            "serving.api_keys_file (see 'supportkit keys new'), or pass --insecure"
        )
    app = build_server(config)
    print(f"supportkit: serving on http://{args.host}:{args.port} (keys {'on' if keys.enabled else 'off'})")
    # log_config=None: uvicorn's loggers (tracebacks of failed requests) go to the root handlers,
    # which redact personal data and secrets (install_log_redaction), not to handlers of their own
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, log_config=None)
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
