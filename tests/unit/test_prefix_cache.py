"""Automatic prefix caching in the ``static`` engine: cached prompt prefixes give the same greedy tokens
(and logits) as computing them, hits are counted where prompts share whole blocks and never across
adapters, adapter changes leave no stale K/V, and the byte budget holds with LRU eviction."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch

from supportkit.config import Config, GenerationConfig
from supportkit.errors import ConfigError
from supportkit.generation import DecodeItem, Generated, HFDecoder, Sampling, StaticDecoder, make_decoder
from supportkit.generation.prefix_cache import BLOCK, PrefixCache, block_keys, module_fingerprint
from supportkit.generation.slots import SlotModel
from supportkit.models.peft import PEFTModel

SYSTEM = (
    "You are the support assistant of an online shop. Answer briefly and politely, use the knowledge "
    "articles below, never invent order numbers, and hand over to a human agent when asked. "
    "Article: Refunds are paid to the original payment method within five business days."
)
QUESTIONS = ["Where is my order?", "How long do refunds take for shoes?", "Can I change my address?"]
S = Sampling(max_new_tokens=8, repetition_penalty=1.0)
#: Seeded sampling at temperature 1 over the whole vocabulary: the tokens follow the full distribution,
#: so a wrong cached prefix shows even where the tiny model's greedy choice would not change.
SAMPLED = replace(S, do_sample=True, seed=3, temperature=1.0, top_p=1.0)


def _chat(tokenizer: Any, question: str, system: str = SYSTEM) -> tuple[int, ...]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    return tuple(tokenizer.apply_chat_template(messages, add_generation_prompt=True))


def _shared(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _uncached(model: Any, items: list[DecodeItem]) -> list[Generated]:
    """The static engine without a cache, one row at a time."""
    engine = StaticDecoder(model, prefix_cache_mb=0)
    assert engine.prefix_cache is None
    return [engine.generate([item])[0] for item in items]


def _hits(engine: StaticDecoder) -> int:
    assert engine.prefix_cache is not None
    return engine.prefix_cache.stats().hits


@pytest.fixture(params=["greedy", "sampled"])
def sampling(request: pytest.FixtureRequest) -> Sampling:
    return S if request.param == "greedy" else SAMPLED


@pytest.fixture(scope="module")
def base_model(tiny_model_dir: Any) -> PEFTModel:
    return PEFTModel(Config().with_overrides([f"model.name_or_path={tiny_model_dir}", "peft.method=none"]))


def _randomise_lora(model: PEFTModel, adapter: str, seed: int) -> None:
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in model.model.named_parameters():
            if "lora_B" in name and f".{adapter}." in name:
                param.normal_(0, 0.5)  # an adapter that changes the answer


@pytest.fixture
def lora_model(tiny_model_dir: Any) -> PEFTModel:
    model = PEFTModel(Config().with_overrides([f"model.name_or_path={tiny_model_dir}", "peft.method=lora"]))
    model.add_adapter("billing")
    _randomise_lora(model, "default", 1)
    _randomise_lora(model, "billing", 2)
    return model


def test_the_same_prompt_twice_hits_and_decodes_the_same(
    base_model: PEFTModel, smol_tokenizer: Any, sampling: Sampling
) -> None:
    prompt = _chat(smol_tokenizer, QUESTIONS[0])
    item = DecodeItem(prompt, None, sampling)
    [ref] = _uncached(base_model, [item])
    if not sampling.do_sample:
        assert HFDecoder(base_model).generate([item])[0].token_ids == ref.token_ids
    engine = StaticDecoder(base_model, prefix_cache_mb=1)
    first = engine.generate([item])[0]
    assert _hits(engine) == 0
    second = engine.generate([item])[0]
    assert first.token_ids == second.token_ids == ref.token_ids
    stats = engine.prefix_cache.stats()  # type: ignore[union-attr]
    assert stats.hits == (len(prompt) - 1) // BLOCK * BLOCK > 0
    assert stats.queries == 2 * len(prompt)
    assert stats.blocks == len(prompt) // BLOCK


def test_prompts_sharing_a_prefix_reuse_its_whole_blocks(
    base_model: PEFTModel, smol_tokenizer: Any, sampling: Sampling
) -> None:
    a, b = (_chat(smol_tokenizer, q) for q in QUESTIONS[:2])
    shared = _shared(a, b)
    assert shared >= 3 * BLOCK and shared < len(a)  # a long common prefix, then they differ
    items = [DecodeItem(a, None, sampling), DecodeItem(b, None, sampling)]
    ref = _uncached(base_model, items)
    engine = StaticDecoder(base_model, prefix_cache_mb=1)
    got = [engine.generate([item])[0] for item in items]
    assert [g.token_ids for g in got] == [r.token_ids for r in ref]
    assert _hits(engine) == shared // BLOCK * BLOCK
    # both in one admission: the second row already finds the first one's blocks
    engine = StaticDecoder(base_model, prefix_cache_mb=1)
    assert [g.token_ids for g in engine.generate(items)] == [r.token_ids for r in ref]
    assert _hits(engine) == shared // BLOCK * BLOCK


def test_a_prefix_is_shared_with_a_row_joining_mid_decode(
    base_model: PEFTModel, smol_tokenizer: Any, sampling: Sampling
) -> None:
    a, b, c = (_chat(smol_tokenizer, q) for q in QUESTIONS)
    s = replace(sampling, max_new_tokens=12, min_new_tokens=12)
    items = [
        DecodeItem(a, None, s),
        DecodeItem(b, None, s),
        DecodeItem(c, None, replace(s, max_new_tokens=6)),
    ]
    ref = _uncached(base_model, items)
    engine = StaticDecoder(base_model, batch_size=4, prefix_cache_mb=1)
    futures = [engine.add(items[0])]
    for _ in range(3):
        engine.step()
    assert engine.running == 1 and _hits(engine) == 0
    futures += [engine.add(items[1]), engine.add(items[2])]  # join while row 0 decodes
    engine.step()
    assert engine.running == 3
    assert _hits(engine) == (_shared(a, b) // BLOCK + _shared(a, c) // BLOCK) * BLOCK
    while engine.busy:
        engine.step()
    assert [f.result().token_ids for f in futures] == [r.token_ids for r in ref]


def test_adapters_never_share_cached_prefixes(lora_model: PEFTModel, smol_tokenizer: Any) -> None:
    prompt = _chat(smol_tokenizer, QUESTIONS[1])
    items = [DecodeItem(prompt, None, S), DecodeItem(prompt, "billing", S), DecodeItem(prompt, "default", S)]
    ref = _uncached(lora_model, items)
    assert ref[0].token_ids != ref[1].token_ids  # the adapters answer differently: the check can fail
    hf = HFDecoder(lora_model)
    assert [hf.generate([i])[0].token_ids for i in items] == [r.token_ids for r in ref]
    engine = StaticDecoder(lora_model, batch_size=4, prefix_cache_mb=1)
    got = engine.generate(items[:2])  # same prompt, two adapters, one admission
    assert [g.token_ids for g in got] == [r.token_ids for r in ref[:2]]
    assert _hits(engine) == 0  # nothing reused across adapters
    whole = (len(prompt) - 1) // BLOCK * BLOCK
    # the active adapter by name or as None is the same K/V
    assert engine.generate([items[2]])[0].token_ids == ref[2].token_ids
    assert _hits(engine) == whole
    again = engine.generate([items[1], items[0]])
    assert [g.token_ids for g in again] == [ref[1].token_ids, ref[0].token_ids]
    assert _hits(engine) == 3 * whole


def _changes(model: PEFTModel, tmp_path: Any) -> dict[str, Any]:
    """Ways an adapter's weights change under the same name."""

    def readd() -> None:
        model.delete_adapter("billing")
        model.add_adapter("billing")
        _randomise_lora(model, "billing", 7)

    def reload() -> None:
        other = PEFTModel(model.config)
        other.add_adapter("billing")
        _randomise_lora(other, "billing", 9)
        other.save_model(tmp_path / "billing", adapter_name="billing")
        active = model.active_adapter
        model.delete_adapter("billing")
        model.load_adapter(tmp_path / "billing", "billing")
        model.set_adapter(active)

    def in_place() -> None:
        _randomise_lora(model, "billing", 11)  # e.g. a training step or load_state_dict

    return {"deleted and re-added": readd, "reloaded from disk": reload, "changed in place": in_place}


@pytest.mark.parametrize("change", ["deleted and re-added", "reloaded from disk", "changed in place"])
def test_a_changed_adapter_never_reuses_stale_kv(
    lora_model: PEFTModel, smol_tokenizer: Any, tmp_path: Any, change: str
) -> None:
    prompt = _chat(smol_tokenizer, QUESTIONS[2])
    item = DecodeItem(prompt, "billing", S)
    engine = StaticDecoder(lora_model, prefix_cache_mb=1)
    old = engine.generate([item])[0]
    assert engine.generate([item])[0].token_ids == old.token_ids and _hits(engine) > 0
    hits = _hits(engine)
    _changes(lora_model, tmp_path)[change]()
    [new_ref] = _uncached(lora_model, [item])
    assert new_ref.token_ids != old.token_ids  # the change matters, so stale K/V would show
    assert engine.generate([item])[0].token_ids == new_ref.token_ids
    assert _hits(engine) == hits  # the cache was emptied, not read
    assert engine.generate([item])[0].token_ids == new_ref.token_ids
    assert _hits(engine) > hits  # and fills again


def test_a_merged_adapter_empties_the_cache(lora_model: PEFTModel, smol_tokenizer: Any) -> None:
    """A merge writes the base weights through ``.data`` (no version bump); the fingerprint sees it."""
    before = module_fingerprint(lora_model.model)
    assert module_fingerprint(lora_model.model) == before
    lora_model.merge(unload=False)
    assert module_fingerprint(lora_model.model) != before


def test_the_byte_budget_holds_and_least_recently_used_blocks_go(
    base_model: PEFTModel, smol_tokenizer: Any
) -> None:
    prompts = [_chat(smol_tokenizer, q, system=f"Shop number {i}. {SYSTEM}") for i, q in enumerate(QUESTIONS)]
    slots = SlotModel(base_model.model, 1)
    block = slots.read(0, 0, BLOCK).nbytes
    budget_blocks = len(prompts[0]) // BLOCK + 2  # one prompt and a bit
    items = [DecodeItem(p, None, S) for p in prompts]
    ref = _uncached(base_model, items)
    engine = StaticDecoder(base_model, prefix_cache_mb=budget_blocks * block / (1 << 20))
    cache = engine.prefix_cache
    assert cache is not None and cache.max_bytes == budget_blocks * block
    for item, r in zip(items, ref, strict=True):
        assert engine.generate([item])[0].token_ids == r.token_ids
        assert 0 < cache.stats().bytes <= cache.max_bytes
    stats = cache.stats()
    assert stats.evictions > 0 and stats.blocks == budget_blocks
    last = items[-1]
    assert engine.generate([last])[0].token_ids == ref[-1].token_ids  # the newest prompt is still held
    assert cache.stats().hits == (len(last.input_ids) - 1) // BLOCK * BLOCK


class _Block:
    nbytes = 10


def test_lru_evicts_the_least_recently_used_chain_tail_first() -> None:
    cache = PrefixCache(max_bytes=40)
    a, b, c = ([i] * (2 * BLOCK + 1) for i in (1, 2, 3))
    for prompt in (a, b):
        assert cache.insert(prompt, None, lambda s, e: _Block()) == 2
    assert cache.lookup(a, None)[0] == 2 * BLOCK  # a is now the most recent
    assert cache.insert(c, None, lambda s, e: _Block()) == 2
    assert cache.stats().bytes == 40 and cache.stats().evictions == 2
    assert cache.lookup(b, None)[0] == 0
    assert cache.lookup(a, None)[0] == 2 * BLOCK and cache.lookup(c, None)[0] == 2 * BLOCK
    cache.insert([9] * BLOCK, None, lambda s, e: _Block())  # one block to evict: a's tail, not its head
    assert cache.lookup(a, None)[0] == BLOCK
    assert cache.lookup(c, None)[0] == 2 * BLOCK
    assert PrefixCache(max_bytes=5).insert(a, None, lambda s, e: _Block()) == 0  # never over budget


def test_a_prompt_longer_than_the_budget_keeps_its_head() -> None:
    """A chain's tail is unreachable without its head: a long prompt never evicts its own blocks."""
    cache = PrefixCache(max_bytes=20)
    long = list(range(4 * BLOCK + 1))
    assert cache.insert(long, None, lambda s, e: _Block()) == 2
    assert cache.lookup(long, None)[0] == 2 * BLOCK
    other = [7] * (BLOCK + 1)
    assert cache.insert(other, None, lambda s, e: _Block()) == 1  # evicts the long prompt's tail block
    assert cache.lookup(long, None)[0] == BLOCK and cache.lookup(other, None)[0] == BLOCK


def test_keys_chain_tokens_and_adapter() -> None:
    tokens = list(range(3 * BLOCK))
    keys = block_keys(tokens, None)
    assert len(keys) == 3 and len(set(keys)) == 3
    assert block_keys(tokens, "billing") != keys  # the adapter roots the chain
    changed = [99, *tokens[1:]]
    assert all(x != y for x, y in zip(block_keys(changed, None), keys, strict=True))  # parents count
    assert block_keys(tokens[: 2 * BLOCK + 5], None) == keys[:2]


@pytest.mark.parametrize("length", [5, BLOCK, 2 * BLOCK])
def test_short_and_whole_block_prompts_always_compute_the_last_token(
    base_model: PEFTModel, smol_tokenizer: Any, length: int, sampling: Sampling
) -> None:
    prompt = tuple(smol_tokenizer.encode(" ".join(["order refund shipping"] * 20)))[:length]
    assert len(prompt) == length
    [ref] = _uncached(base_model, [DecodeItem(prompt, None, sampling)])
    engine = StaticDecoder(base_model, prefix_cache_mb=1)
    for _ in range(2):
        assert engine.generate([DecodeItem(prompt, None, sampling)])[0].token_ids == ref.token_ids
    assert _hits(engine) == (length - 1) // BLOCK * BLOCK  # 5 -> 0, 16 -> 0, 32 -> 16
    assert engine.prefix_cache.stats().blocks == length // BLOCK  # type: ignore[union-attr]


def test_cached_prefill_logits_match_computed_ones(base_model: PEFTModel, smol_tokenizer: Any) -> None:
    prompt = _chat(smol_tokenizer, QUESTIONS[1])
    slots = SlotModel(base_model.model, 2)
    with torch.inference_mode():
        full = slots.extend(0, prompt, 0, None)
        reference = base_model.model(torch.tensor([prompt])).logits[:, -1].float()
        start = 3 * BLOCK
        slots.write(1, 0, slots.read(0, 0, start))
        cached = slots.extend(1, prompt[start:], start, None)
        computed_tail = slots.read(0, start, len(prompt))
        cached_tail = slots.read(1, start, len(prompt))
    # fp32 on a tiny model: differences are rounding only (different matmul shapes)
    torch.testing.assert_close(cached, full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cached, reference, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(cached_tail, computed_tail, rtol=1e-5, atol=1e-5)


def test_the_setting_is_validated_and_reaches_the_static_engine_only(base_model: PEFTModel) -> None:
    assert GenerationConfig().prefix_cache_mb > 0
    for bad in (-1, "big", True, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match=r"generation\.prefix_cache_mb"):
            GenerationConfig(prefix_cache_mb=bad).validate()  # type: ignore[arg-type]
    GenerationConfig(prefix_cache_mb=0).validate()
    static = make_decoder("static", base_model, batch_size=2, prefix_cache_mb=0)
    assert isinstance(static, StaticDecoder) and static.prefix_cache is None
    sized = make_decoder("static", base_model, prefix_cache_mb=2)
    assert isinstance(sized, StaticDecoder) and sized.prefix_cache is not None
    assert sized.prefix_cache.max_bytes == 2 << 20
    assert isinstance(make_decoder("hf", base_model, prefix_cache_mb=2), HFDecoder)
    with pytest.raises(ValueError, match="prefix_cache_mb"):
        StaticDecoder(base_model, prefix_cache_mb=-1)


def test_a_block_that_cannot_fit_evicts_nothing() -> None:
    cache = PrefixCache(max_bytes=25)
    a = [1] * (2 * BLOCK + 1)
    assert cache.insert(a, None, lambda s, e: _Block()) == 2

    class Big:
        nbytes = 30  # over the whole budget

    assert cache.insert([5] * (BLOCK + 1), None, lambda s, e: Big()) == 0
    assert cache.lookup(a, None)[0] == 2 * BLOCK and cache.stats().evictions == 0


def test_only_the_shared_prefix_is_looked_up_and_cached(base_model: PEFTModel, smol_tokenizer: Any) -> None:
    """``DecodeItem.shared_prefix``: blocks past it (a customer's own text) are never cached or reused,
    so no other client can time-probe them; queries still count the whole prompt."""
    prompt = _chat(smol_tokenizer, QUESTIONS[0])
    system = _shared(prompt, _chat(smol_tokenizer, QUESTIONS[1]))
    item = DecodeItem(prompt, None, S, shared_prefix=system)
    engine = StaticDecoder(base_model, prefix_cache_mb=1)
    first, second = (engine.generate([item])[0] for _ in range(2))
    assert first.token_ids == second.token_ids == _uncached(base_model, [item])[0].token_ids
    stats = engine.prefix_cache.stats()  # type: ignore[union-attr]
    assert stats.blocks == system // BLOCK < len(prompt) // BLOCK  # the question's blocks were not kept
    assert stats.hits == system // BLOCK * BLOCK and stats.queries == 2 * len(prompt)
    private = StaticDecoder(base_model, prefix_cache_mb=1)
    for _ in range(2):
        private.generate([DecodeItem(prompt, None, S, shared_prefix=0)])
    assert private.prefix_cache.stats().blocks == 0 and _hits(private) == 0  # type: ignore[union-attr]


def test_the_fingerprint_reads_inference_mode_parameters() -> None:
    with torch.inference_mode():
        layer = torch.nn.Linear(4, 4)  # its parameters have no version counter
    assert module_fingerprint(layer) == module_fingerprint(layer)


def test_the_pipeline_shares_only_a_system_message_without_customer_data(base_model: PEFTModel) -> None:
    from supportkit.pipelines.inference import InferencePipeline

    pipeline = InferencePipeline(base_model, base_model.config)
    plain = pipeline.prepare({"query": "Where is my order?", "strategy": "zero_shot"})
    ids = plain.rendered.input_ids
    assert 0 < plain.shared_prefix < len(ids)
    assert plain.item().shared_prefix == plain.shared_prefix
    question = pipeline.tokenizer.encode("Where is my order?", add_special_tokens=False)
    assert not any(ids[i : i + len(question)] == question for i in range(plain.shared_prefix))
    for private in (
        {"user_context": {"plan": "Plus", "name": "Ada"}},
        {"history": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
    ):
        prepared = pipeline.prepare({"query": "Where is my order?", "strategy": "zero_shot", **private})
        assert prepared.shared_prefix == 0  # a customer's profile, context or history: nothing shared
