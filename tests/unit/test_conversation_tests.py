"""Conversation tests: the YAML schema, the checks, the runner on a real (tiny) pipeline, JUnit XML
and the ``supportkit test`` command."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from supportkit.config import Config
from supportkit.errors import DataError
from supportkit.pipelines.response import Response, UsedPassage
from supportkit.recipes.conversation_runner import format_results, run_conversation_tests, write_junit
from supportkit.recipes.conversation_tests import check_turn, load_conversation_tests

SUITE = """\
conversations:
  - name: person
    turns:
      - user: I want to speak to a person
        expect:
          escalates: human_request
          not_contains: Brightcart
          no_pii: true
  - name: wrong reason
    turns:
      - user: I want to speak to a person
        expect:
          escalates: legal
          contains: "this text is not in the reply"
  - name: two turns
    turns:
      - user: Hello there
      - user: Can I talk to a human please?
        expect:
          escalates: true
"""


def _write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_expectation_names_the_line_and_the_closest_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "conversations:\n  - name: a\n    turns:\n      - user: hi\n        expect:\n          contain: x\n",
    )
    with pytest.raises(
        DataError, match=r"suite\.yaml:4: unknown expectation 'contain'; did you mean 'contains'"
    ):
        load_conversation_tests(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("turns: []\n", "top-level 'conversations:'"),
        (
            "conversations:\n  - name: a\n    turn: []\n",
            r"suite\.yaml:2: unknown conversation key 'turn'; did you mean 'turns'",
        ),
        ("conversations:\n  - name: a\n    turns: []\n", "needs a non-empty 'turns'"),
        ("conversations:\n  - name: a\n    turns:\n      - expect: {}\n", r"suite\.yaml:4: a turn needs"),
        (
            "conversations:\n  - name: a\n    turns:\n      - user: x\n        expect: {escalates: 3}\n",
            "escalates must be",
        ),
        (
            "conversations:\n  - name: a\n    turns:\n      - user: x\n        expect: {no_pii: maybe}\n",
            "no_pii must be true or false",
        ),
        (
            "conversations:\n  - name: a\n    turns:\n      - user: x\n"
            "  - name: a\n    turns:\n      - user: y\n",
            "used twice",
        ),
        ("conversations: [\n", "not valid YAML"),
    ],
)
def test_schema_errors_are_clear(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_conversation_tests(_write(tmp_path, text))


def test_yaml_1_2_words_stay_text(tmp_path: Path) -> None:
    tests = load_conversation_tests(
        _write(
            tmp_path,
            "conversations:\n  - name: a\n    turns:\n      - user: no\n        expect: {contains: off}\n",
        )
    )
    assert tests[0].turns[0].user == "no" and tests[0].turns[0].expect == {"contains": ["off"]}


def _response(**kw: Any) -> Response:
    base: dict[str, Any] = {
        "text": "Returns are accepted within 30 days.",
        "strategy": "knowledge",
        "role": None,
    }
    base["prompt_version"] = "retail@1.1"
    return Response(**{**base, **kw})


def test_checks_pass_and_fail_on_a_response() -> None:
    passage = UsedPassage("returns-policy#0", "Returns policy", "returns-policy.md", 0.9, 0.8)
    ok = _response(citations=["Returns policy"], passages=[passage], intent="return_item")
    assert check_turn(ok, {"cites": "returns-policy", "contains": ["30 DAYS"], "intent": "return_item"}) == []
    assert check_turn(ok, {"cites": "Returns policy", "escalates": False, "no_pii": True}) == []
    failures = check_turn(ok, {"cites": "refunds", "not_contains": ["30 days"], "intent": "refund_status"})
    assert len(failures) == 3 and "cited ['Returns policy']" in failures[0]
    leaky = _response(text="Mail jane.doe@example.com or call +44 20 7946 0958.")
    assert "EMAIL" in check_turn(leaky, {"no_pii": True})[0]
    escalated = _response(escalate=True, escalation={"reason": "legal", "detail": ""})
    assert check_turn(escalated, {"escalates": "legal"}) == []
    assert check_turn(escalated, {"escalates": "human_request"}) == [
        "escalates with 'human_request': reason was 'legal'"
    ]
    assert check_turn(escalated, {"escalates": False}) == ["does not escalate: escalated (legal)"]
    filled = _response(text="Your plan is Pro.", guardrails={"slots_filled": 1})
    assert check_turn(filled, {"slot_filled": True}) == []
    assert check_turn(_response(), {"slot_filled": True}) == ["slot_filled True: not filled"]


@pytest.fixture
def tiny_pipeline(tiny_config: Config) -> Any:
    from supportkit.recipes.assistant import build_pipeline

    tiny_config.generation.max_new_tokens = 8
    return build_pipeline(tiny_config)


def test_runner_on_a_real_pipeline(tmp_path: Path, tiny_pipeline: Any) -> None:
    path = _write(tmp_path, SUITE)
    results = run_conversation_tests(tiny_pipeline, load_conversation_tests(path), source=str(path))
    assert [(r.conversation, r.turn, r.passed) for r in results] == [
        ("person", 1, True),
        ("wrong reason", 1, False),
        ("two turns", 1, True),
        ("two turns", 2, True),
    ]
    wrong = results[1]
    assert wrong.where == f"{path}:11"
    assert wrong.failures[0] == "escalates with 'legal': reason was 'human_request'"
    assert wrong.failures[1].startswith("contains ['this text is not in the reply']")
    table = format_results(results, width=90)
    assert "FAIL" in table and "3 of 4 turns passed; 2 of 3 conversations passed" in table
    assert all(len(line) <= 90 for line in table.splitlines() if not line.startswith("  reply"))

    junit = write_junit(results, tmp_path / "ci" / "junit.xml", suite="suite")
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures")) == ("4", "1")
    failed = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert [c.get("classname") for c in failed] == ["wrong reason"] and failed[0].get("line") == "11"


def test_history_reaches_the_second_turn(tmp_path: Path, tiny_pipeline: Any) -> None:
    seen: list[Any] = []
    respond = tiny_pipeline.respond

    def spy(query: str, strategy: Any = None, **kw: Any) -> Any:
        seen.append(kw["history"])
        return respond(query, strategy, **kw)

    tiny_pipeline.respond = spy
    tests = load_conversation_tests(_write(tmp_path, SUITE))
    run_conversation_tests(tiny_pipeline, tests[2:])
    assert seen[0] == [] and [m["role"] for m in seen[1]] == ["user", "assistant"]
    assert seen[1][0]["content"] == "Hello there"


def test_cli_exit_codes_and_junit(
    tmp_path: Path, tiny_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    from supportkit.cli import main

    tiny_config.generation.max_new_tokens = 8
    config = tmp_path / "config.yaml"
    tiny_config.to_yaml(config)
    passing = _write(tmp_path, SUITE.split("  - name: wrong reason")[0], "passing.yaml")
    assert main(["test", str(passing), str(config)]) == 0
    assert "1 of 1 turns passed" in capsys.readouterr().out
    junit = tmp_path / "out.xml"
    assert main(["test", str(_write(tmp_path, SUITE)), str(config), "--junit", str(junit)]) == 1
    assert "FAIL" in capsys.readouterr().out and ET.parse(junit).getroot().get("failures") == "1"
    bad = _write(
        tmp_path,
        "conversations:\n  - name: a\n    turns:\n      - user: x\n        expect: {escalate: true}\n",
    )
    assert main(["test", str(bad), str(config)]) == 2
    assert "did you mean 'escalates'" in capsys.readouterr().err
    typo = _write(
        tmp_path,
        "conversations:\n  - name: a\n    strategy: knowlege\n    turns:\n      - user: x\n",
        "typo.yaml",
    )
    assert main(["test", str(typo), str(config)]) == 2
    assert "typo.yaml:2: unknown strategy 'knowlege'; did you mean 'knowledge'" in capsys.readouterr().err


def test_shipped_example_store_suite_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    tests = load_conversation_tests(root / "tests" / "conversations" / "example_store.yaml")
    assert len(tests) >= 4 and any(len(t.turns) > 1 for t in tests)
