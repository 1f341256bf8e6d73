"""Where benchmark data comes from: the project's own files, or the shared Bitext sample.

The shared folder is found through ``SUPPORTKIT_SHARED_DIR`` (default: ``../shared`` beside the
project). When it is absent, benchmarks that need it say so in their output instead of failing.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_BANK = ROOT / "data" / "few_shot_examples.jsonl"


def tiny_model_dir(work: Path) -> str:
    """A tiny random Llama with the real SmolLM2 tokenizer, for --quick runs."""
    from supportkit.models.gguf_cache import bundled_model_dir
    from supportkit.models.loading import load_tokenizer
    from supportkit.testing import build_tiny_model_dir

    tokenizer = load_tokenizer(bundled_model_dir("smollm2-135m-instruct"))
    return str(build_tiny_model_dir(work / "tiny", tokenizer))


def shared_dir() -> Path:
    return Path(os.environ.get("SUPPORTKIT_SHARED_DIR", ROOT.parent / "shared"))


def bitext_csv() -> Path | None:
    path = shared_dir() / "data" / "bitext-customer-support" / "bitext_customer_support_6480.csv"
    return path if path.is_file() else None
