"""The export recipe: a saved supportkit adapter -> what another runtime serves, checked by loading it.

    result = export_adapter("outputs/run/adapter", "exports/billing", fmt="vllm-lora",
                            base="HuggingFaceTB/SmolLM2-135M-Instruct", name="billing")
    print(result.command)      # vllm serve ... --enable-lora --lora-modules billing=/abs/exports/billing
    result.checks              # [ExportCheck(target="peft PeftModel.from_pretrained", ...), ...]

Formats:

* ``vllm-lora``: peft's ``adapter_config.json`` + ``adapter_model.safetensors`` only, checked
  against what vLLM's ``--lora-modules`` accepts (:func:`~supportkit.models.vllm_lora.check_vllm_lora`),
  with ``base_model_name_or_path`` set to the served base.
* ``merged``: a plain transformers directory (``config.json``, safetensors weights, tokenizer and
  chat template), the adapter folded in by the verified :meth:`PEFTModel.merge
  <supportkit.models.peft.PEFTModel.merge>` (full fine-tuning: the model as trained).
* ``gguf`` / ``gguf-lora``: for llama.cpp, the merged model as one GGUF (f16 or f32) or a LoRA
  adapter GGUF for ``--lora`` (:mod:`supportkit.recipes.export_gguf`).

Every export is written to a temporary directory, loaded back by its target (transformers' and
peft's own loaders; for vLLM also vLLM's reading of the files: ``W + alpha/r * B A`` per module)
and compared with the adapter model on a few prompts (logits within ``atol``, identical greedy
tokens); only then does it replace ``out``. A failed check raises :class:`ExportError` and leaves
``out`` as it was.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportkit.config import Config
from supportkit.errors import ExportError
from supportkit.models.artifacts import META_FILE, PICKLE_SUFFIXES, AdapterMeta
from supportkit.models.gguf_export import GGUF_DTYPES, TensorCheck
from supportkit.models.methods.base import METHODS, mergeable_methods
from supportkit.models.tokenizer import encode_chat
from supportkit.models.vllm_lora import VLLM_LORA_FILES, check_vllm_lora
from supportkit.utils.atomic import atomic_directory

#: The formats :func:`export_adapter` writes.
FORMATS = ("vllm-lora", "merged", "gguf", "gguf-lora")
#: Prompts every export is compared on (chat messages; rendered with the adapter's chat template).
CHECK_PROMPTS: tuple[tuple[Mapping[str, str], ...], ...] = (
    ({"role": "user", "content": "My order has not arrived yet. What can I do?"},),
    (
        {"role": "system", "content": "You are a customer-support assistant."},
        {"role": "user", "content": "How do I change the email address on my account?"},
    ),
    ({"role": "user", "content": "Can I return a gift without the receipt?"},),
)
#: Greedy tokens generated per prompt for the comparison.
CHECK_NEW_TOKENS = 8


@dataclass(frozen=True)
class ExportCheck:
    """One load-back comparison: ``target`` loaded the export; logits vs the adapter model."""

    target: str
    max_abs_diff: float
    atol: float
    tokens_equal: bool
    prompts: int

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.atol and self.tokens_equal

    def format(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        return (
            f"{self.target}: max |logit diff| {self.max_abs_diff:.1e} (atol {self.atol:g}), greedy tokens "
            f"{'identical' if self.tokens_equal else 'DIFFER'} on {self.prompts} prompts: {verdict}"
        )


@dataclass
class ExportResult:
    fmt: str
    path: Path
    files: list[str]
    #: The command that serves the export (``vllm serve ...``).
    command: str
    checks: list[ExportCheck | TensorCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def export_adapter(
    adapter: str | Path,
    out: str | Path,
    *,
    fmt: str,
    config: Config | None = None,
    base: str | None = None,
    name: str | None = None,
    verify: bool = True,
    force: bool = False,
    gguf_dtype: str = "f16",
) -> ExportResult:
    """Export the supportkit adapter saved in ``adapter`` to ``out`` in format ``fmt``.

    Args:
        adapter: a directory written by ``train`` / :meth:`PEFTModel.save_model`.
        out: the directory to write (replaced atomically, only after the checks pass).
        fmt: one of :data:`FORMATS`.
        config: the caller's config (base model location, device, dtype), as for
            :meth:`PEFTModel.from_saved`; ``None``: the adapter's recorded base directory.
        base: the base model name or path the runtime loads (``vllm-lora``: written into
            ``base_model_name_or_path`` and the command); default: the recorded base directory.
        name: the model name clients ask for (``--lora-modules NAME=...``, or ``--served-model-name``
            of a merged model); default: the adapter's name, or ``out``'s name for ``default``.
        verify: load the export back and compare it (:class:`ExportCheck`); off only for speed.
        force: load the adapter even if the base weights' fingerprint differs.
        gguf_dtype: ``gguf``: the weights' precision, one of :data:`GGUF_DTYPES` (f16 or f32).

    Raises :class:`ExportError` (format refused, checks failed), :class:`ModelLoadError` /
    :class:`AdapterMismatchError` (the adapter cannot be loaded).
    """
    from supportkit.models.peft import PEFTModel
    from supportkit.recipes.export_gguf import write_gguf, write_gguf_adapter

    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    adapter, out = Path(adapter), Path(out)
    meta = AdapterMeta.read(adapter)
    spec = METHODS.get(meta.method)
    if gguf_dtype not in GGUF_DTYPES:
        raise ExportError(f"unknown GGUF dtype {gguf_dtype!r}; choose one of {', '.join(GGUF_DTYPES)}")
    if fmt == "gguf-lora" and meta.method != "lora":
        raise ExportError(
            f"{adapter} holds a {meta.method!r} adapter; llama.cpp's --lora takes plain LoRA adapters only. "
            "Export it with --format gguf (the merged model) or train with peft.method=lora"
        )
    if fmt == "vllm-lora" and meta.method != "lora":
        raise ExportError(
            f"{adapter} holds a {meta.method!r} adapter; vLLM serves plain LoRA adapters only (not DoRA, "
            f"IA3, LoHa, LoKr, prompt/prefix tuning or bottleneck adapters). Export it with --format merged "
            "and serve the merged model, or train with peft.method=lora"
        )
    if fmt in ("merged", "gguf") and not (spec.can_merge or spec.backend == "full"):
        raise ExportError(
            f"{adapter} holds a {meta.method!r} adapter, which cannot be merged into the base weights; "
            f"mergeable methods: {', '.join(mergeable_methods())} (and full fine-tuning). Serve it with "
            "supportkit itself"
        )
    _check_replaceable(out, adapter)
    # the adapter model: the reference the export is compared with, and what a merge folds
    loaded = verify or fmt in ("merged", "gguf")
    model = PEFTModel.from_saved(adapter, config, force=force) if loaded else None
    reference = _outputs(model.model, model.tokenizer) if model is not None and verify else []
    name = name or (meta.adapter_name if meta.adapter_name != "default" else out.name)
    with atomic_directory(out, overwrite=True) as tmp:
        if fmt == "vllm-lora":
            result = _write_vllm_lora(adapter, tmp, out, base or meta.base_model_dir, name)
            if base is None:
                result.notes.append(
                    f"the base is the local directory the adapter was trained on ({meta.base_model_dir}); "
                    "pass base= (--base) with the name or path the serving machine loads"
                )
            if model is not None:
                result.checks += _check_vllm_lora(tmp, Path(model.base.model_dir), reference, model)
        elif fmt == "gguf-lora":
            base_dir = model.base.model_dir if model is not None else meta.base_model_dir
            served, notes, checks = write_gguf_adapter(adapter, tmp, out, name, base_dir, model, reference)
            result = ExportResult(fmt, out, [], served, checks, notes)
        elif fmt == "gguf":
            served, notes, checks = write_gguf(model, tmp, out, name, gguf_dtype, verify=verify)
            result = ExportResult(fmt, out, [], served, checks, notes)
        else:
            result = _write_merged(model, tmp, out, name)
            if verify:
                result.checks.append(_check_merged(tmp, reference, model))
        failed = [c.format() for c in result.checks if not c.passed]
        if failed:
            raise ExportError(
                f"the export does not reproduce {adapter}: {'; '.join(failed)}; nothing written"
            )
        result.files = sorted(p.name for p in tmp.iterdir())
    return result


#: What an export directory holds; an existing ``out`` with anything else is not replaced.
_EXPORT_SUFFIXES = (".json", ".safetensors", ".jinja", ".txt", ".model", ".gguf")


def _check_replaceable(out: Path, adapter: Path) -> None:
    """``out`` may be replaced: new, empty, or an earlier export (never the adapter or a folder of work)."""
    if out.resolve() == adapter.resolve():
        raise ExportError(f"--out {out} is the adapter directory itself; choose another directory")
    if not out.exists():
        return
    if not out.is_dir():
        raise ExportError(f"--out {out} is a file; choose a directory")
    other = sorted(p.name for p in out.iterdir() if not (p.is_file() and p.suffix in _EXPORT_SUFFIXES))
    if other or (out / META_FILE).exists():
        held = ", ".join(other[:3]) if other else META_FILE
        raise ExportError(
            f"--out {out} already holds {held}, which an export would replace; choose a new directory "
            "(an earlier export there is replaced)"
        )


# --- writers -------------------------------------------------------------------------------------
def _write_vllm_lora(adapter: Path, tmp: Path, out: Path, base: str, name: str) -> ExportResult:
    check_vllm_lora(adapter)  # what vLLM would refuse, named on the adapter the user gave
    config = json.loads((adapter / VLLM_LORA_FILES[0]).read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base
    (tmp / VLLM_LORA_FILES[0]).write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
    shutil.copyfile(adapter / VLLM_LORA_FILES[1], tmp / VLLM_LORA_FILES[1])
    # the files as written pass too; the command names the final directory
    info = dataclasses.replace(check_vllm_lora(tmp), path=out.resolve())
    served = info.serve_command(base, name)
    notes = [f"LoRA rank {info.rank} on {', '.join(info.target_modules)}"]
    if info.max_lora_rank is not None:
        notes.append(f"rank {info.rank} > vLLM's default --max-lora-rank 16: the command raises it")
    return ExportResult("vllm-lora", out, [], served, notes=notes)


def _write_merged(model: Any, tmp: Path, out: Path, name: str) -> ExportResult:
    if model.spec.backend != "full":
        model.merge()  # checks merged vs unmerged logits on a probe batch; MergeError otherwise
    model.model.save_pretrained(tmp, safe_serialization=True)
    model.tokenizer.save_pretrained(tmp)
    pickled = sorted(p.name for p in tmp.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickled or not list(tmp.glob("*.safetensors")) or (tmp / META_FILE).exists():
        raise ExportError(f"the merged directory would hold {pickled or 'no safetensors weights'}")
    notes = [f"{model.method} folded into the base weights; loads with AutoModelForCausalLM.from_pretrained"]
    served = shlex.join(["vllm", "serve", str(out.resolve()), "--served-model-name", name])
    return ExportResult("merged", out, [], served, notes=notes)


# --- load-back checks ----------------------------------------------------------------------------
def _outputs(module: Any, tokenizer: Any) -> list[tuple[Any, Any]]:
    """(last-layer logits, greedy continuation) of ``module`` on each of :data:`CHECK_PROMPTS`."""
    import torch

    device = next(module.parameters()).device
    was_training = module.training
    module.eval()
    results = []
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    try:
        with torch.inference_mode():
            for messages in CHECK_PROMPTS:
                ids = torch.tensor([encode_chat(tokenizer, list(messages))], device=device)
                logits = module(input_ids=ids).logits.float().cpu()
                generated = module.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=CHECK_NEW_TOKENS,
                    do_sample=False,
                    pad_token_id=pad_id,
                )
                results.append((logits, generated[0, ids.shape[1] :].cpu()))
    finally:
        module.train(was_training)
    return results


def compare_outputs(
    target: str, module: Any, tokenizer: Any, reference: Sequence[tuple[Any, Any]]
) -> ExportCheck:
    """``module``'s logits and greedy tokens on :data:`CHECK_PROMPTS` vs ``reference``."""
    import torch

    got = _outputs(module, tokenizer)
    diff = max(float((a[0] - b[0]).abs().max()) for a, b in zip(got, reference, strict=True))
    tokens_equal = all(torch.equal(a[1], b[1]) for a, b in zip(got, reference, strict=True))
    atol = 1e-3 if next(module.parameters()).dtype == torch.float32 else 1e-1
    return ExportCheck(target, diff, atol, tokens_equal, len(reference))


def _plain_model(directory: Path, like: Any) -> Any:
    """A plain transformers model from ``directory`` (safetensors only, no remote code)."""
    from transformers import AutoModelForCausalLM

    parameter = next(like.parameters())
    loaded = AutoModelForCausalLM.from_pretrained(
        str(directory), use_safetensors=True, trust_remote_code=False, dtype=parameter.dtype
    )
    return loaded.to(parameter.device).eval()


def _check_merged(tmp: Path, reference: Sequence[tuple[Any, Any]], model: Any) -> ExportCheck:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tmp), trust_remote_code=False)
    if tokenizer.chat_template != model.tokenizer.chat_template:
        raise ExportError("the merged directory's tokenizer lost the adapter's chat template")
    loaded = _plain_model(tmp, model.model)
    return compare_outputs("transformers AutoModelForCausalLM.from_pretrained", loaded, tokenizer, reference)


def _check_vllm_lora(
    tmp: Path, base_dir: Path, reference: Sequence[tuple[Any, Any]], model: Any
) -> list[ExportCheck]:
    from peft import PeftModel

    with_peft = PeftModel.from_pretrained(_plain_model(base_dir, model.model), str(tmp), is_trainable=False)
    checks = [compare_outputs("peft PeftModel.from_pretrained", with_peft, model.tokenizer, reference)]
    del with_peft
    folded = _fold_like_vllm(tmp, _plain_model(base_dir, model.model))
    checks.append(
        compare_outputs("vLLM's reading (W + alpha/r * B A per module)", folded, model.tokenizer, reference)
    )
    return checks


def _fold_like_vllm(directory: Path, base: Any) -> Any:
    """``base`` with the adapter folded in the way vLLM reads the files: one ``lora_alpha / r`` for
    every module (``alpha / sqrt(r)`` with rsLoRA), weights matched to modules by name."""
    import torch
    from safetensors.torch import load_file

    config = json.loads((directory / VLLM_LORA_FILES[0]).read_text(encoding="utf-8"))
    r = int(config["r"])
    scale = config["lora_alpha"] / (math.sqrt(r) if config.get("use_rslora") else r)
    state = load_file(str(directory / VLLM_LORA_FILES[1]))
    prefix, suffix_a = "base_model.model.", ".lora_A.weight"
    with torch.no_grad():
        for key, a in state.items():
            if not key.endswith(suffix_a):
                continue
            module_name = key[len(prefix) : -len(suffix_a)]
            b = state[key.replace(".lora_A.", ".lora_B.")]
            weight = base.get_submodule(module_name).weight
            weight += (scale * (b.float() @ a.float())).to(weight.dtype).to(weight.device)
    return base
