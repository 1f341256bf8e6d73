"""Resuming a comparison from its own report.

``supportkit compare`` writes ``report.json`` after every system, with the fingerprint of what
decides the numbers: the whole config except the lists of systems to run (methods, strategies,
baselines, left-out intents) and where the report goes, plus the content of the data file and the
question limit. A rerun with the same fingerprint keeps the systems already in the report and runs
only the rest (a longer method list extends a grid); a different fingerprint is refused with the
settings that differ, unless the caller restarts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.errors import ConfigError
from supportkit.evaluation.evaluator import SystemResult
from supportkit.evaluation.report import load_systems
from supportkit.utils.hashing import sha256_file

#: Settings that choose which systems run, or that no number depends on: a rerun may change them.
GRID_KEYS = (
    "training.output_dir",
    "evaluation.methods",
    "evaluation.strategies",
    "evaluation.tuned_strategies",
    "evaluation.baselines",
    "evaluation.leave_out_intents",
    "evaluation.output_dir",
)

#: Sections no comparison number depends on (``supportkit serve`` settings).
IGNORED_SECTIONS = ("serving",)


def comparison_settings(config: Config, limit: int | None) -> dict[str, Any]:
    """The flattened settings (``section.key`` -> value) a comparison's numbers depend on."""
    flat: dict[str, Any] = {}
    for section, values in config.to_dict().items():
        if section in IGNORED_SECTIONS:
            continue
        if isinstance(values, Mapping):
            for key, value in values.items():
                flat[f"{section}.{key}"] = value
        else:
            flat[section] = values
    for key in GRID_KEYS:
        flat.pop(key, None)
    flat["evaluation.max_examples"] = limit
    train_file = config.data.train_file
    if train_file and Path(train_file).is_file():
        flat["data file sha256"] = sha256_file(train_file)
    return json.loads(json.dumps(flat, default=str))  # plain JSON values, as read back


def _relevant(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in settings.items()
        if k not in GRID_KEYS and k.partition(".")[0] not in IGNORED_SECTIONS
    }


def fingerprint(settings: Mapping[str, Any]) -> str:
    """A short digest of :func:`comparison_settings`."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def finished_systems(
    report_json: str | Path, settings: Mapping[str, Any], *, restart: bool = False
) -> list[SystemResult]:
    """The systems of an earlier run of the same comparison (none when there is no report, or
    when ``restart``).

    Raises:
        ConfigError: the report was made with other settings (the differences are named), or
            by a version that recorded none.
    """
    path = Path(report_json)
    if restart or not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable report ({exc}); pass --restart to start over") from None
    before = data.get("settings")
    advice = (
        "pass --restart to run every system again (the report is replaced), or set "
        "evaluation.output_dir to another folder to keep both"
    )
    if not isinstance(before, Mapping):
        raise ConfigError(f"{path} records no settings to resume from: {advice}")
    before, settings = _relevant(before), _relevant(settings)  # also for reports of older versions
    defaults = comparison_settings(Config(), None)
    for key in settings.keys() - before.keys():  # a setting added since that report, at its default,
        if settings[key] == defaults.get(key):  # is what the older version did
            before[key] = settings[key]
    if fingerprint(before) != fingerprint(settings):
        changed = sorted(k for k in {*before, *settings} if before.get(k) != settings.get(k))
        shown = "; ".join(f"{k}: {before.get(k)!r} -> {settings.get(k)!r}" for k in changed[:6])
        more = f" (and {len(changed) - 6} more)" if len(changed) > 6 else ""
        raise ConfigError(f"{path} was measured with other settings ({shown}{more}): {advice}")
    return load_systems(path)
