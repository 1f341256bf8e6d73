import json
import subprocess
import sys
from pathlib import Path

import pytest

from supportkit.cli import main


def test_help_is_fast_because_heavy_imports_are_lazy() -> None:
    code = (
        "import sys\nfrom supportkit.cli import build_parser\nbuild_parser().format_help()\n"
        "import supportkit\nsupportkit.Config\n"
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    help_text = subprocess.run(
        [sys.executable, "-m", "supportkit", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("env", "prepare", "ask"):
        assert name in help_text


def test_env_reports_versions_devices_and_fingerprint(
    capsys: pytest.CaptureFixture[str], bundled_dir: Path
) -> None:
    from supportkit.models.gguf_cache import read_meta

    assert main(["env", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["packages"]["transformers"].startswith("4.57")
    assert report["devices"]["cpu_count"] >= 1
    entry = report["bundled_models"]["smollm2-135m-instruct"]
    meta = read_meta(bundled_dir)
    assert meta is not None and entry["fingerprint"] == meta["fingerprint"]
    assert main(["env"]) == 0
    assert "fingerprint" in capsys.readouterr().out


def test_errors_become_one_line_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "hello", "model.device=gpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: model.device = 'gpu' is not allowed")
    assert main(["ask", "hello", "training.nope=1"]) == 2
    assert "unknown field training.nope" in capsys.readouterr().err


def test_ask_answers_with_a_configured_model(
    capsys: pytest.CaptureFixture[str], tiny_model_dir: Path
) -> None:
    rc = main(
        [
            "ask",
            "Where is my parcel?",
            f"model.name_or_path={tiny_model_dir}",
            "generation.max_new_tokens=4",
            "--raw",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert (out.startswith("Q: Where is my parcel?\nA: ") and "4 tokens" in out) or "tokens in" in out


def test_ask_goes_through_the_pipeline_with_strategy_and_config_overrides(
    capsys: pytest.CaptureFixture[str], tiny_model_dir: Path
) -> None:
    example = str(Path(__file__).resolve().parents[2] / "configs" / "example-store.yaml")
    args = ["ask", "How long do I have to return an item?", example, f"model.name_or_path={tiny_model_dir}"]
    rc = main([*args, "generation.max_new_tokens=3", "--strategy", "few_shot", "--show-meta"])
    assert rc == 0
    out = capsys.readouterr().out
    # the pipeline's few-shot strategy picked examples and the config's prompt set, not a fixed persona
    assert "    example (" in out and "prompts retail@1.1" in out and ", few_shot: loaded in" in out
    assert main([*args, "--strategy", "few_shots"]) == 2
    assert "few_shots" in capsys.readouterr().err


def test_every_command_is_in_the_readme_table() -> None:
    import re

    from supportkit.cli import COMMANDS, build_parser

    build_parser()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    documented = re.findall(r"^supportkit (\w+)", section, flags=re.MULTILINE)
    assert sorted(documented) == list(COMMANDS), "README's command table and the CLI's commands differ"


def test_chat_streams_answers_for_each_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("Where is my order?\n\nquit\nnever read\n"))
    rc = main(["chat", f"model.name_or_path={tiny_model_dir}", "generation.max_new_tokens=3", "--show-meta"])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("assistant: ") == 1  # one question; the blank line is skipped, quit stops
    # no config: the neutral prompt set, not the example store's online-store persona
    assert "prompts general@1.0" in out and "new tokens" in out
