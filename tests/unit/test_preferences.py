"""Learning from feedback: export formats, redaction, preference files (bad rows), the objective setting,
and DPO/KTO training on the tiny model (saved adapter, reference, resume, metrics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from supportkit.config import Config
from supportkit.data.preferences import read_preferences
from supportkit.errors import ConfigError, DataError
from supportkit.recipes.feedback_export import export_rows
from supportkit.store import Message, Store

CARD = "4111 1111 1111 1111"
TOKEN = "sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def _store(tmp_path: Path) -> Store:
    """A store with one two-turn conversation: an answer rated up, one rated down with a correction."""
    store = Store(tmp_path / "store.db")
    store.start_conversation(user_id="cust-7", conversation_id="c1")
    store.append_messages(
        "c1",
        [
            Message("user", "Hello, I bought a lamp."),
            Message(
                "assistant", "Happy to help with your lamp.", response_id="r1", metadata={"adapter": "a"}
            ),
            Message("user", f"Refund order BC-12345 to card {CARD}, mail ann@example.com"),
            Message(
                "assistant", "Refunds are not possible.", response_id="r2", metadata={"intent": "refund"}
            ),
        ],
    )
    store.add_feedback("r1", "up")
    store.add_feedback("r2", "down", correction=f"I refunded BC-12345. Your key {TOKEN} is not needed.")
    return store


def test_dpo_export_pairs_the_correction_over_the_rated_down_answer(tmp_path: Path) -> None:
    rows = export_rows(_store(tmp_path), "dpo")
    assert len(rows) == 1
    row = rows[0]
    assert row["prompt"] == [
        {"role": "user", "content": "Hello, I bought a lamp."},
        {"role": "assistant", "content": "Happy to help with your lamp."},
        {"role": "user", "content": "Refund order BC-12345 to card [CARD], mail [EMAIL]"},
    ]
    assert row["chosen"] == [
        {"role": "assistant", "content": "I refunded BC-12345. Your key [SECRET] is not needed."}
    ]
    assert row["rejected"] == [{"role": "assistant", "content": "Refunds are not possible."}]
    assert row["meta"] == {"feedback_id": 2, "response_id": "r2", "adapter": None, "intent": "refund"}
    text = json.dumps(rows)
    assert CARD not in text and TOKEN not in text and "ann@example.com" not in text and "cust-7" not in text


def test_kto_export_labels_ratings_and_counts_corrections_as_good(tmp_path: Path) -> None:
    rows = export_rows(_store(tmp_path), "kto", history_turns=0)
    got = [(r["completion"][0]["content"], r["label"], len(r["prompt"])) for r in rows]
    assert got == [
        ("Happy to help with your lamp.", True, 1),
        ("Refunds are not possible.", False, 1),  # history_turns=0: the question alone
        ("I refunded BC-12345. Your key [SECRET] is not needed.", True, 1),
    ]
    # every row reads back as a valid kto file
    path = tmp_path / "kto.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert len(read_preferences(path, "kto").rows) == 3


def test_the_feedback_command_writes_the_shared_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supportkit.cli import main

    _store(tmp_path)
    out = tmp_path / "pairs.jsonl"
    args = [
        "feedback",
        "export",
        f"prompt.store_path={tmp_path / 'store.db'}",
        "--format",
        "dpo",
        "--output",
        str(out),
    ]
    assert main(args) == 0
    assert "wrote 1 preference pairs" in capsys.readouterr().out
    assert [json.loads(line) for line in out.read_text().splitlines()] == export_rows(
        Store(tmp_path / "store.db"), "dpo"
    )
    assert main(["feedback", "export", "--format", "dpo", "--output", str(out)]) == 2  # no store configured
    assert "prompt.store_path" in capsys.readouterr().err


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join(x if isinstance(x, str) else json.dumps(x) + "\n" for x in lines), encoding="utf-8"
    )
    return path


GOOD = {
    "prompt": [{"role": "user", "content": "Where is it?"}],
    "chosen": "On its way.",
    "rejected": "No idea.",
}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json\n", "bad JSON"),
        ({"prompt": "Hi", "completion": "Hello", "label": True}, "looks like a kto file"),
        ({**GOOD, "rejected": "On its way. "}, "the same answer"),
        ({**GOOD, "prompt": [{"role": "assistant", "content": "Hi"}]}, "end with the user's question"),
        ({**GOOD, "chosen": [{"role": "user", "content": "x"}]}, "exactly one assistant message"),
        ({**GOOD, "chosen": "ok <|im_end|><|im_start|>system"}, "special token '<|im_end|>'"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_rows_are_reported_with_file_and_line(tmp_path: Path, bad: Any, message: str) -> None:
    path = _write(tmp_path / "p.jsonl", [GOOD, "\n", bad, GOOD])
    with pytest.raises(DataError, match=rf"p\.jsonl:3: .*{message[:20]}"):
        read_preferences(path, "dpo", special_tokens=["<|im_end|>", "<|im_start|>"])
    skipped = read_preferences(path, "dpo", on_error="skip", special_tokens=["<|im_end|>"])
    assert len(skipped.rows) == 2 and len(skipped.skipped) == 1 and ":3:" in skipped.skipped[0]


def test_standard_format_rows_become_conversational(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "k.jsonl", [{"prompt": "Hi", "completion": "Hello!", "label": False, "meta": {}}]
    )
    assert read_preferences(path, "kto").rows == [
        {
            "prompt": [{"role": "user", "content": "Hi"}],
            "completion": [{"role": "assistant", "content": "Hello!"}],
            "label": False,
        }
    ]
    with pytest.raises(DataError, match="'label' must be true or false"):
        read_preferences(
            _write(tmp_path / "b.jsonl", [{"prompt": "Hi", "completion": "x", "label": 1}]), "kto"
        )
    with pytest.raises(DataError, match="no such preference file"):
        read_preferences(tmp_path / "missing.jsonl", "dpo")


@pytest.mark.parametrize(
    ("override", "message"),
    [("training.objective=ppo", "training.objective"), ("training.beta=0", "training.beta")],
)
def test_objective_settings_are_validated(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config().with_overrides([override])
    assert Config().training.objective == "sft"


def _train_config(tiny_model_dir: Path, tmp_path: Path, objective: str, data: Path, *extra: str) -> Config:
    return Config().with_overrides(
        [
            f"model.name_or_path={tiny_model_dir}",
            f"training.objective={objective}",
            f"data.train_file={data}",
            "training.batch_size=2",
            "training.max_steps=2",
            "training.learning_rate=0.01",
            "training.logging_steps=1",
            f"training.output_dir={tmp_path / 'out'}",
            *extra,
        ]
    )


def _pairs(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "pairs.jsonl",
        [
            {
                "prompt": f"Where is order BC-{n}?",
                "chosen": f"Order BC-{n} ships today.",
                "rejected": "No idea.",
            }
            for n in range(6)
        ],
    )


@pytest.fixture
def sft_adapter(tiny_model_dir: Path, tmp_path: Path) -> Path:
    import torch

    from supportkit.models.peft import PEFTModel

    model = PEFTModel(Config().with_overrides([f"model.name_or_path={tiny_model_dir}"]))
    with torch.no_grad():  # a trained-looking adapter: B is no longer zero
        for name, param in model.model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=torch.Generator().manual_seed(0)) * 0.1)
    return model.save_model(tmp_path / "sft")


def _weights(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


@pytest.mark.parametrize("objective", ["dpo", "kto"])
def test_preference_training_starts_from_the_sft_adapter_and_saves_a_servable_one(
    tiny_model_dir: Path,
    tmp_path: Path,
    sft_adapter: Path,
    objective: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from supportkit.models.artifacts import AdapterMeta
    from supportkit.models.peft import PEFTModel
    from supportkit.recipes.finetune import finetune

    data = _pairs(tmp_path)
    if objective == "kto":
        rows = [json.loads(line) for line in data.read_text().splitlines()]
        data = _write(
            tmp_path / "kto.jsonl",
            [
                {"prompt": r["prompt"], "completion": r[k], "label": k == "chosen"}
                for r in rows
                for k in ("chosen", "rejected")
            ],
        )
    config = _train_config(tiny_model_dir, tmp_path, objective, data, f"training.init_adapter={sft_adapter}")
    result = finetune(config)
    assert result.adapter is not None and result.summary.steps == 2
    assert result.model.adapter_names == ["default"]  # the reference adapter is gone before saving
    meta = AdapterMeta.read(result.adapter)
    assert meta.method == "lora" and meta.config["training"]["objective"] == objective
    before, after = _weights(sft_adapter), _weights(result.adapter)
    assert before.keys() == after.keys()
    assert any(not bool((before[k] == after[k]).all()) for k in before)  # trained from the SFT weights
    assert PEFTModel.from_saved(result.adapter).adapter_names == ["default"]  # loadable as SFT adapters are
    records = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and all("loss" in r for r in records)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["objective"] == objective
    out, err = capfd.readouterr()
    assert "'loss'" not in out and "'loss'" not in err  # no log dicts printed: a progress bar instead
    assert "training: 100%" in err and "2/2" in err


def test_dpo_resumes_from_its_checkpoint_without_repeating_metrics(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from supportkit.recipes.finetune import finetune

    data = _pairs(tmp_path)
    finetune(_train_config(tiny_model_dir, tmp_path, "dpo", data, "training.save_steps=1"))
    assert (tmp_path / "out" / "checkpoint-2").is_dir()
    again = finetune(
        _train_config(tiny_model_dir, tmp_path, "dpo", data, "training.save_steps=1", "training.max_steps=3"),
        resume_from="auto",
    )
    assert again.summary.resumed_from is not None and again.summary.resumed_from.endswith("checkpoint-2")
    steps = [
        json.loads(line)["step"] for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == [1, 2, 3]
    # starting over (no resume): the earlier run's checkpoints go aside, out of rotation and resume
    fresh = finetune(_train_config(tiny_model_dir, tmp_path, "dpo", data, "training.save_steps=1"))
    assert fresh.summary.resumed_from is None
    [aside] = list((tmp_path / "out" / "earlier-runs").iterdir())
    assert "checkpoint-3" in {p.name for p in aside.iterdir()}
    assert not (tmp_path / "out" / "checkpoint-3").exists() and (tmp_path / "out" / "checkpoint-2").is_dir()


def test_bad_rows_and_untrainable_methods_fail_before_training(tiny_model_dir: Path, tmp_path: Path) -> None:
    from supportkit.recipes.finetune import finetune

    bad = _write(tmp_path / "bad.jsonl", [GOOD, {"prompt": "Hi", "chosen": "x"}])
    with pytest.raises(DataError, match=r"bad\.jsonl:2: missing 'rejected'"):
        finetune(_train_config(tiny_model_dir, tmp_path, "dpo", bad))
    with pytest.raises(ConfigError, match=r"peft\.method=full"):
        finetune(_train_config(tiny_model_dir, tmp_path, "dpo", _pairs(tmp_path), "peft.method=full"))
    with pytest.raises(ConfigError, match=r"data\.train_file"):
        finetune(_train_config(tiny_model_dir, tmp_path, "dpo", bad, "data.train_file=null"))


def test_sft_can_continue_from_an_init_adapter(
    tiny_model_dir: Path, tmp_path: Path, sft_adapter: Path
) -> None:
    from supportkit.recipes.finetune import finetune

    data = _write(
        tmp_path / "sft.jsonl",
        [
            {"instruction": f"Where is order BC-{n}?", "response": f"Order BC-{n} ships today."}
            for n in range(20)
        ],
    )
    config = _train_config(
        tiny_model_dir,
        tmp_path,
        "sft",
        data,
        f"training.init_adapter={sft_adapter}",
        "training.max_steps=1",
        "training.learning_rate=1e-9",
        "training.eval_steps=null",
        "data.dedup_threshold=null",
    )
    result = finetune(config)
    before, after = _weights(sft_adapter), _weights(result.adapter)  # type: ignore[arg-type]
    assert all(bool((before[k] - after[k]).abs().max() < 1e-5) for k in before)  # started from it
    assert any(bool(before[k].abs().max() > 0.01) for k in before if "lora_B" in k)  # not a fresh adapter


def test_train_command_needs_a_preference_file_for_dpo(
    tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supportkit.cli import main

    # the project's conversations are filled in for sft only: they are no preference file
    assert main(["train", f"model.name_or_path={tiny_model_dir}", "training.objective=dpo"]) == 2
    assert "training.objective=dpo needs data.train_file=FILE" in capsys.readouterr().err


def test_a_signal_saves_a_checkpoint_and_the_run_resumes(tiny_model_dir: Path, tmp_path: Path) -> None:
    import signal

    from transformers import TrainerCallback

    from supportkit.data.preferences import read_preferences
    from supportkit.models.peft import PEFTModel
    from supportkit.pipelines.interrupt import TrainingInterrupted
    from supportkit.pipelines.preference import PreferencePipeline

    class CtrlC(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == 1:
                signal.raise_signal(signal.SIGINT)  # as a person pressing Ctrl-C during step 2

    config = _train_config(tiny_model_dir, tmp_path, "dpo", _pairs(tmp_path), "training.max_steps=3")
    data = read_preferences(config.data.train_file or "", "dpo")
    with pytest.raises(TrainingInterrupted, match="--resume auto") as stopped:
        PreferencePipeline(PEFTModel(config), config, callbacks=[CtrlC()]).train(data)
    assert stopped.value.step == 2 and (tmp_path / "out" / "checkpoint-2").is_dir()
    summary = PreferencePipeline(PEFTModel(config), config).train(data, resume_from="auto")
    assert summary.steps == 3 and (summary.resumed_from or "").endswith("checkpoint-2")
