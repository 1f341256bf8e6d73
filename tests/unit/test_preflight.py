"""Every command checks what it can before its model loads, and the example store is opt-in.

"Before the model loads" is shown by an outcome, not a mock: these runs point ``model.name_or_path``
at a folder that does not exist. Loading it fails with "model path ... is not a model directory";
each test instead gets the error about the thing it got wrong (the model check comes last), which
it could only get from a check made before any load.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from supportkit.cli import main
from supportkit.config import Config
from supportkit.data.project import CONVERSATIONS, KNOWLEDGE_BASE, use_example_store
from supportkit.errors import ConfigError, DataError, ModelLoadError, UnknownNameError
from supportkit.recipes.preflight import preflight

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "configs" / "example-store.yaml")


@pytest.fixture
def no_model(tmp_path: Path) -> str:
    return f"model.name_or_path={tmp_path / 'no-such-model'}"


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "not a model directory" not in err and "no-such-model" not in err, "the model was loaded first"
    return err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["chat", "prompt.strategy=few_shots"], "did you mean 'few_shot'?"),
        (["ask", "hi", "--strategy", "knowlege"], "did you mean 'knowledge'?"),
        (["ask", "hi", "prompt.role=billing_specialst"], "did you mean 'billing_specialist'?"),
        (["ask", "hi", "prompt.prompt_set=retial"], "did you mean 'retail'?"),
        (["train"], "nothing to train on: no data file: set data.train_file"),
        (["eval", EXAMPLE, "evaluation.strategies=[zero_shott]"], "did you mean 'zero_shot'?"),
        (["eval"], "nothing to evaluate"),
        (["compare", EXAMPLE, "evaluation.methods=[none, lorra]"], "did you mean 'lora'?"),
        (["chat", "knowledge.path=/no/such/articles"], "knowledge.path: /no/such/articles does not exist"),
        (["chat", "generation.engine=hff"], "did you mean 'hf'?"),
        (["chat", "peft.method=lorra"], "did you mean 'lora'?"),
    ],
)
def test_commands_report_bad_names_and_missing_data_before_loading_the_model(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_model: str,
    argv: list[str],
    expected: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    options = next((i for i, a in enumerate(argv) if a.startswith("--")), len(argv))
    assert expected in _error(capsys, [*argv[:options], no_model, *argv[options:]])


def test_bad_rows_are_listed_with_file_and_line_before_loading(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_model: str
) -> None:
    data = tmp_path / "faq.csv"
    data.write_text(
        "q,a\nHow do I log in?,Use the sign-in page.\nWhat is the price?,\nHi,\nOK?,Yes.\n", "utf-8"
    )
    mapping = ["data.column_mapping.q=question", "data.column_mapping.a=answer"]
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  column_mapping: {}\n", "utf-8")
    err = _error(capsys, ["train", str(config), f"data.train_file={data}", *mapping, no_model])
    assert f"{data}:3:" in err and f"{data}:4:" in err and "2 bad row(s)" in err
    # a mapping naming a column the file does not have: the file's columns, before any row is read
    err = _error(
        capsys,
        [
            "test",
            str(ROOT / "tests/conversations/example_store.yaml"),
            str(config),
            f"prompt.few_shot_file={data}",
            "data.column_mapping.question=question",
            no_model,
        ],
    )
    assert "prompt.few_shot_file" in err and str(data) in err


def test_adapters_are_checked_before_loading(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_model: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    missing = tmp_path / "outputs" / "adapter"
    err = _error(capsys, ["chat", no_model, "--adapter", str(missing)])
    assert f"--adapter: no adapter at {missing}: the folder does not exist" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    err = _error(capsys, ["ask", "hi", no_model, "--adapter", str(empty)])
    assert f"no adapter at {empty}: the folder has no supportkit_adapter.json" in err
    err = _error(capsys, ["eval", EXAMPLE, f"evaluation.adapter={missing}", no_model])
    assert f"evaluation.adapter: no adapter at {missing}" in err
    err = _error(capsys, ["serve", f"serving.adapters.billing={empty}", no_model])
    assert "serving.adapters.billing: no adapter at" in err


def test_an_adapter_for_another_base_is_refused_before_loading(
    tiny_model_dir: Path, tmp_path: Path, smol_tokenizer: object
) -> None:
    from supportkit.models.peft import PEFTModel
    from supportkit.recipes.preflight import check_adapter
    from supportkit.testing import build_tiny_model_dir

    other = build_tiny_model_dir(tmp_path / "other-base", smol_tokenizer, seed=7)
    PEFTModel(Config().with_overrides([f"model.name_or_path={other}"])).save_model(tmp_path / "a")
    config = Config().with_overrides([f"model.name_or_path={tiny_model_dir}"])
    with pytest.raises(ModelLoadError, match="--adapter: this adapter was trained on base"):
        check_adapter(tmp_path / "a", config, source="--adapter")
    (tmp_path / "a" / "adapter_model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"adapter_model\.safetensors does not exist"):
        check_adapter(tmp_path / "a", Config().with_overrides([f"model.name_or_path={other}"]))


def test_a_config_without_data_uses_no_example_and_says_what_is_missing() -> None:
    config = Config()
    assert (config.prompt.few_shot_file, config.knowledge.path, config.guardrails.intent_file) == (None,) * 3
    assert config.data.train_file is None and config.prompt.prompt_set == "general"
    notes = preflight(config)
    assert any("no knowledge base configured (knowledge.path)" in n for n in notes)
    with pytest.raises(ConfigError, match="nothing to train on"):
        preflight(config, needs=("train",))
    example = use_example_store(Config())  # opt-in, by name
    assert example.knowledge.path == str(KNOWLEDGE_BASE) and example.data.train_file == str(CONVERSATIONS)
    assert example.prompt.prompt_set == "retail" and preflight(example, needs=("train",)) == []


def test_every_example_config_is_named_and_complete() -> None:
    """The example store is used only where a config names it; those name every path."""
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        config = Config.from_yaml(path)
        uses_example = any(
            "data/" in (p or "") and "shared" not in (p or "")
            for p in (config.data.train_file, config.knowledge.path, config.prompt.few_shot_file)
        )
        if uses_example:
            assert config.prompt.prompt_set == "retail", f"{path.name}: the example's prompt set, by name"


def test_unknown_names_suggest_the_closest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'learning_rate'"):
        Config().with_overrides(["training.learnin_rate=1"])
    with pytest.raises(ConfigError, match="did you mean 'cosine'"):
        Config().with_overrides(["training.lr_scheduler=cosin"])
    with pytest.raises(UnknownNameError, match="did you mean 'few_shot'"):
        preflight(Config().with_overrides(["prompt.strategy=fewshot"]))
    with pytest.raises(DataError, match=r"guardrails\.intent_file: .* does not exist"):
        preflight(Config().with_overrides([f"guardrails.intent_file={tmp_path / 'intents.csv'}"]))


def test_chat_without_knowledge_runs_and_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Where is my order?\n"))
    assert main(["chat", f"model.name_or_path={tiny_model_dir}", "generation.max_new_tokens=3"]) == 0
    captured = capsys.readouterr()
    assert "note: no knowledge base configured" in captured.err and "assistant: " in captured.out


def test_the_default_strategy_answers_from_a_configured_knowledge_base(
    capsys: pytest.CaptureFixture[str], tiny_model_dir: Path
) -> None:
    """No --strategy, a knowledge base configured: the answer comes from it, checked and cited (the
    tiny model's own words are never grounded, so the article's sentences are quoted)."""
    argv = ["ask", "How long do I have to return an item?", f"knowledge.path={KNOWLEDGE_BASE}"]
    assert (
        main([*argv, f"model.name_or_path={tiny_model_dir}", "generation.max_new_tokens=8", "--show-meta"])
        == 0
    )
    out = capsys.readouterr().out
    answer = out.split("A: ", 1)[1].split("\n    article", 1)[0]
    assert "30 days" in answer and "Source: Returns policy" in answer
    assert "article (" in out and ": Returns policy [" in out and "[knowledge, " in out


def test_finetune_without_a_data_file_fails_before_building_the_model(tmp_path: Path) -> None:
    from supportkit.recipes.finetune import finetune

    config = Config().with_overrides([f"model.name_or_path={tmp_path / 'no-such-model'}"])
    with pytest.raises(ConfigError, match=r"no data file: set data\.train_file") as caught:
        finetune(config)
    assert "no-such-model" not in str(caught.value)
