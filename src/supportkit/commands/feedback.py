"""``supportkit feedback export``: the store's ratings and agents' replies as DPO pairs or KTO labels
(JSON Lines)."""

from __future__ import annotations

import argparse

from supportkit.cli import add_config_arguments, command, load_config


def _configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = sub.add_parser(
        "export", help="write stored feedback as training data for training.objective=dpo|kto"
    )
    add_config_arguments(export)
    export.add_argument("--format", required=True, choices=["dpo", "kto"], dest="fmt")
    export.add_argument("--output", required=True, help="the JSON Lines file to write")
    export.add_argument(
        "--since",
        type=float,
        default=None,
        help="only feedback given (agent replies written) at or after (unix s)",
    )
    export.add_argument(
        "--source",
        choices=["all", "feedback", "agent"],
        default="all",
        help="feedback: ratings and corrections; agent: replies typed after taking a conversation over; "
        "all (default): both",
    )


@command("feedback", "export rated answers as preference data (DPO pairs, KTO labels)", _configure)
def run_feedback(args: argparse.Namespace) -> int:
    from supportkit.privacy import Redactor
    from supportkit.recipes.feedback_export import export_rows, write_rows
    from supportkit.store import Store

    config = load_config(args)
    store = Store.from_settings(config.prompt)  # StoreError (exit 2) when no prompt.store_path is set
    rows = export_rows(
        store,
        args.fmt,
        redactor=Redactor.from_settings(config.guardrails),
        since=args.since,
        history_turns=config.prompt.history_turns,
        source=args.source,
    )
    count = write_rows(rows, args.output)
    kind = "preference pairs" if args.fmt == "dpo" else "labelled answers"
    print(f"wrote {count} {kind} to {args.output} (personal data and secrets redacted)")
    if args.fmt == "dpo" and not count:
        print(
            "no pairs: DPO pairs come from answers rated down with a correction and from agents' replies "
            "to a question the model answered; try --format kto"
        )
    print(
        "train on it with:\n  supportkit train CONFIG "
        f"training.objective={args.fmt} data.train_file={args.output}"
    )
    return 0
