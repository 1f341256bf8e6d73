"""Loading the real bundled model, and the errors for what cannot be loaded."""

from pathlib import Path
from typing import Any

import pytest

from supportkit.config import GenerationConfig
from supportkit.errors import ConfigError, ModelLoadError
from supportkit.generation import generate_chat
from supportkit.models.loading import load_base


@pytest.mark.slow
def test_bundled_model_answers_and_stops_at_end_of_turn(real_base: Any) -> None:
    messages = [
        {"role": "system", "content": "You are a concise customer-support assistant."},
        {"role": "user", "content": "Say hello to the customer in one short sentence."},
    ]
    out = generate_chat(real_base.model, real_base.tokenizer, messages, GenerationConfig(max_new_tokens=60))
    assert out.text and "<|im" not in out.text
    assert out.finished, "generation must stop at <|im_end|>"
    assert real_base.model.config.vocab_size == len(real_base.tokenizer)
    assert len(real_base.fingerprint) == 64


def test_tiny_model_loads_from_a_directory(tiny_model_dir: Path) -> None:
    base = load_base(str(tiny_model_dir))
    assert base.model.config.num_hidden_layers == 2
    assert base.tokenizer.pad_token_id == 0
    assert not base.model.training
    assert str(next(base.model.parameters()).device) == "cpu"


def test_cuda_requested_without_cuda_is_a_clear_error(tiny_model_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the error path cannot occur")
    with pytest.raises(ConfigError, match=r"CUDA is not available here; use model\.device=cpu"):
        load_base(str(tiny_model_dir), device="cuda")


def test_pickled_weights_are_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.save_pretrained(tmp_path, safe_serialization=False)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink(missing_ok=True)
    assert list(tmp_path.glob("*.bin"))
    with pytest.raises(ModelLoadError, match="safetensors only"):
        load_base(str(tmp_path))


def test_missing_models_say_what_was_tried(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a model directory"):
        load_base(str(tmp_path / "nowhere"))
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE=1 is set"):
        load_base("someone/some-model-that-is-not-cached")
