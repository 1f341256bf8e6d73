"""Check a run before its model loads: every command calls :func:`preflight` first.

Loading the model takes from seconds to minutes; everything that can be wrong without it is
checked here, in a fraction of a second: the config's values, the names it uses (strategies, roles,
prompt sets, methods, engines, baselines; an unknown one names the closest known one), the files
it names (they exist; data files read with the column mapping, the first bad rows given as
``file:line``; the knowledge folder has articles) and the adapters it loads (saved by supportkit,
weights present, trained on the configured base).

    notes = preflight(config, needs=("train",), adapters={"--adapter": "outputs/lora/adapter"})
    for note in notes: print("note:", note)       # e.g. no knowledge base configured
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.errors import ConfigError, DataError, ModelLoadError, UnknownNameError, did_you_mean

#: What a command may need beyond a valid config: ``train`` (``data.train_file`` to train on),
#: ``eval`` (``data.train_file``, whose held-out split is evaluated).
NEEDS = ("train", "eval")
#: Bad rows listed in an error (the count says how many more there are).
SHOWN_BAD_ROWS = 5


def preflight(
    config: Config, *, needs: Collection[str] = (), adapters: Mapping[str, str | None] | None = None
) -> list[str]:
    """Validate everything about a run that does not need its model; return notes for the user.

    Args:
        config: the run's configuration.
        needs: what the command needs besides a valid config (names in :data:`NEEDS`).
        adapters: where each adapter to load comes from (``--adapter``, ``serving.adapters.billing``)
            -> its directory; ``None`` values are skipped.

    Returns: notes worth telling the user (no knowledge base configured, bad rows skipped, ...).

    Raises:
        ConfigError / UnknownNameError: an invalid value, an unknown name (with the closest known
            one), a missing setting the command needs.
        DataError: a data file that is missing or unreadable with the column mapping (first bad
            rows as ``file:line``), an empty or unreadable knowledge folder.
        ModelLoadError: an adapter directory that is missing, incomplete or for another base.
    """
    unknown = sorted(set(needs) - set(NEEDS))
    if unknown:
        raise ValueError(f"unknown needs {unknown}; known: {', '.join(NEEDS)}")
    config.validate()
    notes: list[str] = []
    _check_names(config)
    _check_data(config, needs, notes)
    _check_knowledge(config, notes)
    for source, path in (adapters or {}).items():
        if path:
            check_adapter(path, config, source=source)
    _check_model(config)
    return notes


def _check_names(config: Config) -> None:
    import supportkit.prompts  # noqa: F401  (registers the strategies)
    from supportkit.config.methods import METHODS
    from supportkit.evaluation.compare import BASELINES
    from supportkit.generation import DECODERS
    from supportkit.prompts.base import STRATEGIES, strategy_names
    from supportkit.prompts.prompt_sets import load_prompt_set
    from supportkit.prompts.roles import resolve_role
    from supportkit.recipes.compare import METHOD_OVERRIDES

    p, e = config.prompt, config.evaluation
    _known("prompt.strategy", [p.strategy], strategy_names())
    prompt_set = load_prompt_set(p.prompt_set)
    for role in (p.role, *p.role_adapters):
        try:
            resolve_role(role, prompt_set, p.custom_roles)
        except UnknownNameError as exc:
            raise UnknownNameError(f"prompt.role / prompt.role_adapters: {exc}") from None
    METHODS.get(config.peft.method)
    DECODERS.get(config.generation.engine)
    specs = [*e.strategies, *(e.tuned_strategies or [])]
    _known("evaluation.strategies", [s.partition(":")[0] for s in specs], STRATEGIES.names())
    _known("evaluation.methods", e.methods, METHOD_OVERRIDES)
    _known("evaluation.baselines", e.baselines, BASELINES)


def check_strategy(name: str, *, where: str = "strategy") -> None:
    """Raise :class:`UnknownNameError` (naming the closest one) unless ``name`` is a strategy or ``auto``."""
    import supportkit.prompts  # noqa: F401  (registers the strategies)
    from supportkit.prompts.base import strategy_names

    _known(where, [name], strategy_names())


def _known(where: str, names: Collection[str], known: Collection[str]) -> None:
    for name in names:
        if name not in known:
            raise UnknownNameError(
                f"{where}: unknown name {name!r}; known: {', '.join(known)}{did_you_mean(name, known)}"
            )


def _check_data(config: Config, needs: Collection[str], notes: list[str]) -> None:
    d = config.data
    if not d.train_file and "train" in needs and config.training.objective != "sft":
        raise ConfigError(
            f"training.objective={config.training.objective} needs data.train_file=FILE, a preference "
            "file (write one from rated answers with: supportkit feedback export --format "
            f"{config.training.objective} --output FILE)"
        )
    if not d.train_file and ({"train", "eval"} & set(needs)):
        from supportkit.data.loader import NO_TRAIN_FILE

        what = "train on" if "train" in needs else "evaluate (the held-out split of data.train_file)"
        raise ConfigError(f"nothing to {what}: {NO_TRAIN_FILE}")
    files = {
        "data.train_file": d.train_file,
        "data.validation_file": d.validation_file,
        "prompt.few_shot_file": config.prompt.few_shot_file,
        "guardrails.intent_file": config.guardrails.intent_file,
    }
    seen: set[str] = set()
    objective = config.training.objective
    if objective != "sft" and d.train_file and "train" in needs:
        from supportkit.data.preferences import read_preferences

        try:  # a preference file (prompt/chosen/rejected or completion/label), not conversations
            read_preferences(d.train_file, objective, on_error=d.on_error)
        except DataError as exc:
            raise DataError(f"data.train_file: {exc}") from None
        seen.add(d.train_file)
    for setting, path in files.items():
        if path and path not in seen:
            seen.add(path)
            check_data_file(path, config, setting=setting, notes=notes)


def check_data_file(path: str, config: Config, *, setting: str, notes: list[str] | None = None) -> int:
    """Read the data file ``path`` (named by ``setting``) as training reads it; return its rows.

    Raises :class:`DataError` naming the setting for a missing file, columns the mapping cannot
    use, no usable row, or bad rows when ``data.on_error`` is ``raise`` (the first
    :data:`SHOWN_BAD_ROWS` as ``file:line: what``).
    """
    from supportkit.data.readers import read_conversations

    d = config.data
    if not Path(path).exists():
        raise DataError(f"{setting}: {path} does not exist")
    try:
        rows, report = read_conversations(
            path, on_error="skip", column_mapping=d.column_mapping, csv_delimiter=d.csv_delimiter
        )
    except DataError as exc:
        raise DataError(f"{setting}: {exc}") from None
    if report.skipped and (d.on_error == "raise" or not rows):
        shown = "; ".join(report.errors[:SHOWN_BAD_ROWS])
        more = f" (and {report.skipped - SHOWN_BAD_ROWS} more)" if report.skipped > SHOWN_BAD_ROWS else ""
        hint = (
            "no row is usable: check data.column_mapping (`supportkit data inspect FILE` shows the columns)"
            if not rows
            else "fix them, or set data.on_error=skip to skip and count them"
        )
        raise DataError(f"{setting}: {report.skipped} bad row(s) in {path}: {shown}{more}; {hint}")
    if not rows:
        raise DataError(f"{setting}: {path} holds no conversations")
    if report.skipped and notes is not None:
        notes.append(f"{setting}: {report.skipped} bad row(s) of {path} will be skipped")
    return len(rows)


def _check_knowledge(config: Config, notes: list[str]) -> None:
    from supportkit.retrieval.passages import load_articles

    path = config.knowledge.path
    if not path:
        notes.append(
            "no knowledge base configured (knowledge.path): answers come from the model alone and are "
            "not checked against your help articles; set knowledge.path to a folder of .md/.txt articles"
        )
        return
    if not Path(path).exists():
        raise DataError(f"knowledge.path: {path} does not exist (a folder of .md/.txt articles or a .jsonl)")
    try:
        articles = load_articles(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"knowledge.path: cannot read {path}: {exc}") from None
    if not articles:
        raise DataError(f"knowledge.path: {path} holds no articles (.md, .txt, or a .jsonl of title/text)")


def check_adapter(path: str | Path, config: Config, *, source: str = "adapter") -> Any:
    """Check a saved adapter directory without loading any model; return its metadata.

    Raises :class:`ModelLoadError` for no adapter at ``path``, one not saved by supportkit, missing
    or pickled weights, or (:class:`~supportkit.errors.AdapterMismatchError`) one trained on
    another base than ``config.model.name_or_path``; the message starts with ``source``.
    """
    from supportkit.models.artifacts import AdapterMeta, check_weights
    from supportkit.models.loading import local_fingerprint

    directory = Path(path)
    try:
        meta = AdapterMeta.read(directory)
        weights = _weights_file(meta.method)
        if weights:
            check_weights(directory, weights)
        fingerprint = local_fingerprint(config.model.name_or_path)
        if fingerprint is not None:
            meta.check_base(fingerprint, config.model.name_or_path)
    except ModelLoadError as exc:
        raise type(exc)(f"{source}: {exc}") from None
    return meta


def _weights_file(method: str) -> str | None:
    from supportkit.config.methods import METHODS

    backend = METHODS.get(method).backend
    return {
        "peft": "adapter_model.safetensors",
        "adapters": "adapter.safetensors",
        "full": "model.safetensors",
    }.get(backend)


def _check_model(config: Config) -> None:
    from supportkit.models.gguf_cache import BUNDLED_MODELS
    from supportkit.models.loading import BUNDLED_PREFIX

    name = config.model.name_or_path
    if name.startswith(BUNDLED_PREFIX):
        _known("model.name_or_path", [name[len(BUNDLED_PREFIX) :]], sorted(BUNDLED_MODELS))
    elif name.startswith((".", "/", "~")) and not Path(name).expanduser().is_dir():
        raise ModelLoadError(f"model.name_or_path: {name} is not a directory (a model folder, or a hub id)")
