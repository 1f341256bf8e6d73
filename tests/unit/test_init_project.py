"""``supportkit init``: the project folder loads, its files read with the project's readers, and
nothing in it comes from the bundled example store."""

from __future__ import annotations

from pathlib import Path

import pytest

from supportkit.config import Config
from supportkit.data.project import DATA_DIR
from supportkit.data.readers import read_conversations
from supportkit.errors import ConfigError
from supportkit.prompts.prompt_sets import load_prompt_set
from supportkit.recipes.conversation_tests import load_conversation_tests
from supportkit.recipes.init_project import init_project
from supportkit.retrieval.passages import load_articles


def test_init_writes_a_project_that_loads_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = init_project(tmp_path / "acme", 'Acme "Cloud" {GmbH}', tone="warm and precise")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # chat/test/train run from any working directory
    config = Config.from_yaml(result.config)
    paths = [
        config.prompt.prompt_set,
        config.prompt.few_shot_file,
        config.knowledge.path,
        config.guardrails.intent_file,
        config.data.train_file,
    ]
    for setting in paths:
        assert setting is not None and Path(setting).is_absolute() and Path(setting).exists(), setting
        assert not Path(setting).is_relative_to(DATA_DIR), "the bundled example store leaked in"
    assert Path(config.training.output_dir).is_relative_to(result.root)
    assert config.prompt.strategy == "knowledge"

    prompts = load_prompt_set(config.prompt.prompt_set)
    assert 'Acme "Cloud" {GmbH}' in prompts.system
    assert prompts.roles[config.prompt.role].tone == "warm and precise"
    articles = load_articles(config.knowledge.path or "")
    assert [a.title for a in articles] == ['Contacting Acme "Cloud" {GmbH} support']

    data = result.root / "data"
    for template in (
        data / "conversations.csv",
        data / "templates" / "conversations.jsonl",
        data / "templates" / "conversations.json",
    ):
        conversations, report = read_conversations(template)
        assert len(conversations) == 6 and report.skipped == 0
        assert {c.intent for c in conversations} == {"contact_support", "account_security", "human_agent"}
    suite = load_conversation_tests(result.root / "tests" / "conversations.yaml")
    assert [t.name for t in suite] == ["contact support", "asks for a person"]
    assert suite[0].turns[0].expect["not_contains"] == ["Brightcart"]  # the guard against the example
    for file in result.root.rglob("*"):
        if file.is_file() and file.parent.name != "tests":
            assert "brightcart" not in file.read_text(encoding="utf-8").lower(), file


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match="not empty"):
        init_project(tmp_path, "Acme")
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"
    with pytest.raises(ConfigError, match="--company"):
        init_project(tmp_path / "new", "   ")


def test_init_command_prints_next_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from supportkit.cli import main

    assert main(["init", str(tmp_path / "p"), "--company", "Acme Cloud"]) == 0
    out = capsys.readouterr().out
    assert "next steps:" in out and f"supportkit chat {tmp_path / 'p' / 'supportkit.yaml'}" in out
    assert "supportkit test " in out and "supportkit data inspect " in out
    assert main(["init", str(tmp_path / "p"), "--company", "Acme Cloud"]) == 2
