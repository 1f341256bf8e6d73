"""The ``train`` command: a thin wrapper around :func:`supportkit.recipes.finetune.finetune`."""

from __future__ import annotations

import argparse

from supportkit.cli import add_config_arguments, checked_config, command


def _configure_train(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument(
        "--resume", default=None, help="'auto' (newest intact checkpoint in output_dir) or a checkpoint path"
    )


@command(
    "train",
    "fine-tune the configured adaptation method on a data file (training.objective sft, dpo or kto)",
    _configure_train,
)
def run_train(args: argparse.Namespace) -> int:
    from supportkit.recipes.finetune import finetune

    finetune(checked_config(args, needs=("train",)), resume_from=args.resume, say=print)
    return 0
