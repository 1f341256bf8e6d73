"""The ``supportkit`` command line: thin parsing around the library.

Subcommands live in ``supportkit/commands/`` (the modules listed in ``COMMAND_MODULES`` register
them with :func:`command`); they are thin wrappers around recipes (``supportkit.recipes``) and
import heavy libraries only inside their ``run`` functions, so ``supportkit --help`` stays fast.
Errors become one readable line and the error's exit code (2; 130 for an interrupted training,
whose checkpoint was saved); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import os

# Spinning OpenMP threads decode 3-7x slower on a shared machine; must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from supportkit import __version__
from supportkit.errors import SupportKitError
from supportkit.privacy.logfilter import install_log_redaction
from supportkit.registry import Registry

#: Modules whose import registers subcommands, in the order ``--help`` lists them (added by hand).
COMMAND_MODULES = [
    "supportkit.commands.models",
    "supportkit.commands.assistant",
    "supportkit.commands.training",
    "supportkit.commands.feedback",
    "supportkit.commands.export",
    "supportkit.commands.evaluation",
    "supportkit.commands.serving",
    "supportkit.commands.project",
]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: Registry[Command] = Registry("command")


def command(
    name: str, help: str, configure: Callable[[argparse.ArgumentParser], None] | None = None
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Register ``run`` as the subcommand ``name``."""

    def decorator(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS.add(name, Command(name, help, configure or (lambda _p: None), run))
        return run

    return decorator


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``CONFIG.yaml`` (optional) and ``section.field=value`` overrides, for config-driven commands."""
    parser.add_argument("config", nargs="?", help="YAML config file (defaults when omitted)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. training.learning_rate=1e-4")


def load_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from supportkit.config import Config

    config_path = args.config
    overrides = list(args.overrides or [])
    if config_path and "=" in config_path:  # no file given, only overrides
        overrides.insert(0, config_path)
        config_path = None
    config = Config.from_yaml(config_path) if config_path else Config()
    return config.with_overrides(overrides)


def checked_config(  # type: ignore[no-untyped-def]
    args: argparse.Namespace,
    *,
    needs: Sequence[str] = (),
    adapters: Mapping[str, str | None] | Callable[[Any], Mapping[str, str | None]] | None = None,
):
    """The command's config, checked before any model loads (:func:`~supportkit.recipes.preflight.
    preflight`); ``adapters``: source -> directory, or a function of the config giving them. The
    notes (e.g. no knowledge base) are printed to stderr."""
    from supportkit.recipes.preflight import preflight

    config = load_config(args)
    found = adapters(config) if callable(adapters) else adapters
    for note in preflight(config, needs=needs, adapters=found):
        print(f"note: {note}", file=sys.stderr)
    return config


def build_parser() -> argparse.ArgumentParser:
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    parser = argparse.ArgumentParser(
        prog="supportkit",
        description="Build customer-support assistants out of small open language models.",
    )
    parser.add_argument("--version", action="version", version=f"supportkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        cmd = COMMANDS.get(name)
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    install_log_redaction()  # no personal data or secrets in logs
    if not getattr(args, "_run", None):
        parser.print_help()
        return 1
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SupportKitError as exc:
        if args.debug:
            traceback.print_exc()
        label = "interrupted" if exc.exit_code == 130 else "error"
        print(f"{label}: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover - use ``python -m supportkit``
    from supportkit.cli import main as _main  # the registry lives in the imported module

    sys.exit(_main())
