"""The base model and how it decodes: ``model`` and ``generation`` sections."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field

from supportkit.config.base import Section
from supportkit.utils.validation import check_choice, check_positive, fail

BUNDLED_MODEL = "bundled:smollm2-135m-instruct"

Device = str  # "cpu", "cuda", "cuda:N" or "auto"
DTYPES = ("float32", "bfloat16", "float16", "auto")

#: What ``generation.repetition_penalty_scope`` may be.
REPETITION_SCOPES = ("generated", "all")


@dataclass
class ModelConfig(Section):
    """Which base model to load and where to run it."""

    section: typing.ClassVar[str] = "model"
    #: A hub id, a local directory, or ``bundled:smollm2-135m-instruct`` (the default).
    name_or_path: str = BUNDLED_MODEL
    #: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto`` (CUDA when present).
    device: str = "cpu"
    #: Weights dtype: float32, bfloat16, float16 or auto (bf16 on capable GPUs; on a CPU only with native
    #: bf16 instructions AND a passed quality gate for the model, else float32; see BENCHMARKS.md). fp32
    #: is the default: bf16 matrix products are ~8x slower on AVX2 CPUs.
    dtype: str = "float32"
    #: torch intra-op threads on CPU; ``None``: the cores available to the process (its affinity).
    threads: int | None = None
    #: Run code shipped with a hub model. Off unless a config turns it on explicitly.
    trust_remote_code: bool = False
    revision: str | None = None
    #: Languages the model and the embedder (``knowledge.embedder``) answer and retrieve well, as
    #: ISO 639-1 codes; a question detected in another goes by ``guardrails.unsupported_language``.
    languages: list[str] = field(default_factory=lambda: ["en"])

    def validate(self) -> None:
        if not isinstance(self.name_or_path, str) or not self.name_or_path.strip():
            fail("model", "name_or_path", self.name_or_path, "a hub id, a directory or bundled:…")
        if not (
            isinstance(self.languages, list)
            and self.languages
            and all(isinstance(c, str) and re.fullmatch(r"[a-z]{2,3}", c) for c in self.languages)
        ):
            fail("model", "languages", self.languages, "a non-empty list of ISO 639-1 codes such as [en, de]")
        check_choice("model", self, "dtype", DTYPES)
        if self.threads is not None and (
            not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1
        ):
            fail("model", "threads", self.threads, "a whole number >= 1, or null for the available cores")
        if not isinstance(self.trust_remote_code, bool):
            fail("model", "trust_remote_code", self.trust_remote_code, "true or false")
        device = self.device
        if not isinstance(device, str) or not (
            device in ("cpu", "cuda", "auto", "mps") or (device.startswith("cuda:") and device[5:].isdigit())
        ):
            fail("model", "device", device, "cpu, cuda, cuda:N, mps or auto")


@dataclass
class GenerationConfig(Section):
    """How answers are generated."""

    section: typing.ClassVar[str] = "generation"
    max_new_tokens: int = 96
    #: Generate at least this many tokens (end-of-turn is suppressed until then).
    min_new_tokens: int = 0
    #: Greedy decoding unless ``do_sample`` is true.
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    #: Which tokens the repetition penalty counts: ``generated`` (the answer so far; default) or
    #: ``all`` (transformers' behaviour, the prompt included). Penalising the prompt pushes the model
    #: away from the facts, order numbers and example answers it should repeat: with ``generated``,
    #: Bitext similarity few-shot scores ROUGE-L 0.90 instead of 0.53. Its vaguer knowledge answers
    #: are caught by ``guardrails.require_answer``; with both, 28 of 61 labelled knowledge questions
    #: keep the model's own answer (BENCHMARKS.md, "Grounding"). Stop tokens are never penalised.
    repetition_penalty_scope: str = "generated"
    #: Seed for sampling, so sampled answers are reproducible.
    seed: int | None = None
    #: Most requests generated together by ``respond_batch`` (grouped by adapter and settings).
    batch_size: int = 8
    #: The decode engine (a name in ``supportkit.generation.DECODERS``; ``hf``: transformers' generate).
    engine: str = "hf"
    #: The ``static`` engine's automatic prefix cache in MB (0: off): K/V of prompt prefixes in
    #: 16-token blocks, keyed by the tokens and the adapter, least recently used evicted, so shared
    #: system instructions and knowledge articles are not recomputed. 512 MB (720 KB per block for
    #: SmolLM2-135M fp32) holds most of the example store's 406 served prompts: 82 % of prompt tokens
    #: hit, against 69 % at 256 MB and 84 % with no limit (BENCHMARKS.md, "Prefix caching").
    prefix_cache_mb: float = 512.0

    def validate(self) -> None:
        check_positive(
            "generation", self, "max_new_tokens", "temperature", "repetition_penalty", "batch_size"
        )
        check_positive("generation", self, "min_new_tokens", allow_zero=True)
        check_choice("generation", self, "repetition_penalty_scope", REPETITION_SCOPES)
        if self.min_new_tokens > self.max_new_tokens:
            fail("generation", "min_new_tokens", self.min_new_tokens, "at most generation.max_new_tokens")
        if not 0 < self.top_p <= 1:
            fail("generation", "top_p", self.top_p, "a number in (0, 1]")
        if (
            isinstance(self.prefix_cache_mb, bool)
            or not isinstance(self.prefix_cache_mb, (int, float))
            or not self.prefix_cache_mb >= 0
            or self.prefix_cache_mb == float("inf")
        ):
            fail(
                "generation", "prefix_cache_mb", self.prefix_cache_mb, "a number of MB >= 0 (0 turns it off)"
            )
        if not isinstance(self.engine, str) or not self.engine.strip():
            fail("generation", "engine", self.engine, "the name of a registered decode engine, e.g. 'hf'")
