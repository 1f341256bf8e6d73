"""Issue 17's "done when", on the tiny model: ``supportkit init`` -> the company's own CSV and help
articles -> ``data inspect`` -> ``supportkit test`` passes: the bot answers from those articles
(cited), and nothing of the bundled example store (Brightcart) reaches a reply or the config.

The tiny random model never writes a grounded sentence, so every answer sent is the guard's quote
of the best-matching article (``guardrails.on_ungrounded: extract``): exactly the path that must
use the company's own articles. The same path on the real model: ``test_own_company.py`` (slow).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from supportkit.cli import main
from supportkit.config import Config
from supportkit.data.project import DATA_DIR

ARTICLES = {
    "annual-refunds.md": (
        "# Refunds for annual plans\n\nNimbus Notes refunds an annual plan in full within 14 days of "
        "purchase. Monthly plans are not refunded; cancel before the next billing date instead.\n"
    ),
    "sharing-notebooks.md": (
        "# Sharing notebooks\n\nTo share a notebook, open it and choose Share > Invite people. People "
        "you invite get an email with a link and can edit the notebook straight away.\n"
    ),
}
CSV = (
    "Customer question,Agent reply,Topic\n"
    "Can I get my money back?,Annual plans are refunded within 14 days of purchase.,refund\n"
    "How do I ask for a refund?,Write to billing from Settings > Billing.,refund\n"
    "How do I share a notebook?,Open it and choose Share > Invite people.,sharing\n"
    "Can my colleague edit my notebook?,Yes: invite them with Share > Invite people.,sharing\n"
)
NOT_THE_EXAMPLE = ["Brightcart", "30 days", "Plus members", "BC-"]


def test_a_new_company_goes_from_init_to_passing_conversation_tests(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "nimbus"
    assert main(["init", str(root), "--company", "Nimbus Notes"]) == 0
    (root / "knowledge" / "contact-support.md").unlink()  # the example article init wrote
    for name, text in ARTICLES.items():
        (root / "knowledge" / name).write_text(text, encoding="utf-8")
    (root / "data" / "conversations.csv").write_text(CSV, encoding="utf-8")  # their own export
    config_path = root / "supportkit.yaml"
    settings = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    settings["model"]["name_or_path"] = str(tiny_model_dir)
    settings["data"]["column_mapping"] = {
        "Customer question": "question",
        "Agent reply": "answer",
        "Topic": "intent",
    }
    config_path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    config = Config.from_yaml(config_path)
    for path in (config.knowledge.path, config.data.train_file, config.prompt.few_shot_file):
        assert path and not Path(path).is_relative_to(DATA_DIR)

    assert main(["data", "inspect", str(root / "data" / "conversations.csv"), str(config_path)]) == 0
    assert "4 (4 usable, 0 bad)" in capsys.readouterr().out

    turns = [
        ("Can I get a refund on my annual plan?", "annual-refunds", "14 days"),
        ("How do I share a notebook with a colleague?", "sharing-notebooks", "Invite people"),
    ]
    suite = {
        "conversations": [
            {
                "name": f"answers from {article}",
                "turns": [
                    {
                        "user": question,
                        "expect": {
                            "cites": article,
                            "contains": fact,
                            "escalates": False,
                            "not_contains": NOT_THE_EXAMPLE,
                            "no_pii": True,
                        },
                    }
                ],
            }
            for question, article, fact in turns
        ]
        + [
            {
                "name": "a person",
                "turns": [{"user": "I want to speak to a person", "expect": {"escalates": "human_request"}}],
            }
        ]
    }
    suite_path = root / "tests" / "conversations.yaml"
    suite_path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    code = main(["test", str(suite_path), str(config_path), "generation.max_new_tokens=8"])
    captured = capsys.readouterr()
    assert code == 0, captured.out
    assert "3 of 3 turns passed" in captured.out
    assert "no knowledge base" not in captured.err  # the project's own articles are the knowledge base
