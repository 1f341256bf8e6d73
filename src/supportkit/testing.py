"""Tiny models for tests and quick benchmarks, built locally (nothing is downloaded).

* :func:`write_tiny_gguf` writes a small Llama GGUF whose tokenizer is a byte-level slice of the
  bundled SmolLM2 vocabulary (same special tokens, same chat template, GGUF metadata that has the
  same flaws), so the GGUF conversion can be tested in seconds instead of 40.
* :func:`build_tiny_model_dir` saves a 2-layer random Llama with the real SmolLM2 tokenizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: ids 0..16 are special tokens, 17..272 the 256 byte-level symbols of the SmolLM2 vocabulary;
#: merge k produces token 273 + k, so the first merges stay consistent with a cut vocabulary.
_TINY_VOCAB = 1024
_BYTE_END = 273


def _bundled_tokenizer_fields() -> dict[str, Any]:
    import gguf

    from supportkit.models.gguf_cache import find_bundled_gguf

    reader = gguf.GGUFReader(str(find_bundled_gguf("smollm2-135m-instruct")))

    def value(key: str) -> Any:
        return reader.fields[key].contents()

    return {
        "tokens": value("tokenizer.ggml.tokens")[:_TINY_VOCAB],
        "token_types": value("tokenizer.ggml.token_type")[:_TINY_VOCAB],
        "merges": value("tokenizer.ggml.merges")[: _TINY_VOCAB - _BYTE_END],
        "chat_template": value("tokenizer.chat_template"),
    }


def write_tiny_gguf(path: str | Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Write a tiny random Llama GGUF (about 0.2 MB) with SmolLM2's special tokens."""
    import gguf
    import numpy as np

    path = Path(path)
    fields = _bundled_tokenizer_fields()
    vocab = len(fields["tokens"])
    heads, kv_heads, ffn = 4, 2, hidden * 2
    head_dim = hidden // heads
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_name("tiny-test-llama")
    writer.add_block_count(layers)
    writer.add_context_length(512)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(fields["tokens"])
    writer.add_token_types(fields["token_types"])
    writer.add_token_merges(fields["merges"])
    # The same metadata as the bundled GGUF, flaws included: pad == eos, no automatic BOS.
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(fields["chat_template"])
    rng = np.random.default_rng(seed)

    def tensor(name: str, *shape: int) -> None:
        data = (rng.standard_normal(shape) * 0.02).astype(np.float32)
        if len(shape) == 1:
            data = np.ones(shape, dtype=np.float32)
        writer.add_tensor(name, data)

    tensor("token_embd.weight", vocab, hidden)
    tensor("output_norm.weight", hidden)
    for i in range(layers):
        tensor(f"blk.{i}.attn_norm.weight", hidden)
        tensor(f"blk.{i}.attn_q.weight", hidden, hidden)
        tensor(f"blk.{i}.attn_k.weight", kv_heads * head_dim, hidden)
        tensor(f"blk.{i}.attn_v.weight", kv_heads * head_dim, hidden)
        tensor(f"blk.{i}.attn_output.weight", hidden, hidden)
        tensor(f"blk.{i}.ffn_norm.weight", hidden)
        tensor(f"blk.{i}.ffn_gate.weight", ffn, hidden)
        tensor(f"blk.{i}.ffn_up.weight", ffn, hidden)
        tensor(f"blk.{i}.ffn_down.weight", hidden, ffn)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def build_tiny_model_dir(
    path: str | Path,
    tokenizer: Any,
    *,
    hidden: int = 64,
    layers: int = 2,
    seed: int = 0,
) -> Path:
    """Save a random 2-layer Llama sized for unit tests, with ``tokenizer`` beside it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model: Any = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path
