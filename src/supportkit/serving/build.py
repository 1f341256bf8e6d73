"""Building the server from a :class:`~supportkit.config.Config`: model, declared adapters, pipeline, app."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any

from supportkit.errors import ConfigError, ModelLoadError, SupportKitError

log = logging.getLogger(__name__)


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


def build_server(config: Any, *, embedder: Any = None, project_defaults: bool = False) -> Any:
    """Load the model, the declared adapters (validated: files, base fingerprint) and the app.

    ``embedder`` replaces the default sentence embedder; ``project_defaults`` (opt-in) fills unset
    data paths with the bundled example store (:func:`~supportkit.data.project.use_example_store`).

    Raises:
        ConfigError: an adapter directory is missing, incomplete, unsafe or trained on another base
            (the message names the ``serving.adapters`` entry).
    """
    from supportkit.data.project import use_example_store
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.inference import InferencePipeline
    from supportkit.recipes.assistant import choose_engine, serving_precision
    from supportkit.recipes.preflight import preflight
    from supportkit.serving.app import create_app

    if project_defaults:
        config = use_example_store(config)
    if config.generation.batch_size < config.serving.max_batch_size:  # one engine batch, one decode call
        config.generation.batch_size = config.serving.max_batch_size
    for name, path in config.serving.adapters.items():
        if not Path(path).is_dir():
            raise ConfigError(f"serving.adapters.{name}: {path} is not a directory")
    try:  # everything that can be checked without the model, before it loads
        notes = preflight(
            config, adapters={f"serving.adapters.{n}": p for n, p in config.serving.adapters.items()}
        )
    except ModelLoadError as exc:
        raise ConfigError(str(exc)) from exc
    for note in notes:
        log.warning("%s", note)
    serving_precision(config)
    model = PEFTModel(config)
    for name, path in config.serving.adapters.items():
        previous = model.active_adapter
        try:
            model.load_adapter(path, name)
        except (SupportKitError, OSError) as exc:  # missing files, another base, unsafe weights, ...
            raise ConfigError(f"serving.adapters.{name}: {exc}") from exc
        model.set_adapter(previous)
    choose_engine(config, model, config.serving.engine)
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
