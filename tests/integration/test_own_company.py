"""A new company's path, end to end on the bundled model: ``supportkit init`` -> the user adds their
own CSV and a help article -> ``supportkit test`` passes, answering from that article and never
from the bundled example store."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from supportkit.cli import main

pytestmark = pytest.mark.slow

ARTICLE = """# Refunds for annual plans

Acme Cloud refunds an annual plan in full within **14 days** of purchase. Monthly plans are not
refunded; cancel before the next billing date instead. Ask for a refund under Billing > Refund.
"""
CSV = (
    "question;answer;intent\n"
    "Can I get my money back?;Annual plans are refunded within 14 days of purchase.;refund\n"
    "How do I ask for a refund?;Go to Billing > Refund.;refund\n"
    "How do I invite a colleague?;Open Workspace > Members and click Invite.;workspace\n"
    "Can I add more people to my workspace?;Yes: Workspace > Members > Invite.;workspace\n"
)


def test_init_own_data_and_article_then_conversation_tests_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "acme"
    assert main(["init", str(root), "--company", "Acme Cloud"]) == 0
    (root / "knowledge" / "annual-refunds.md").write_text(ARTICLE, encoding="utf-8")
    (root / "data" / "conversations.csv").write_text(CSV, encoding="utf-8")  # the user's own export
    config = str(root / "supportkit.yaml")
    assert main(["data", "inspect", str(root / "data" / "conversations.csv"), config]) == 0
    assert "4 (4 usable, 0 bad)" in capsys.readouterr().out

    suite_path = root / "tests" / "conversations.yaml"
    suite = yaml.safe_load(suite_path.read_text(encoding="utf-8"))
    suite["conversations"].append(
        {
            "name": "refund window",
            "turns": [
                {
                    "user": "Can I get a refund for my annual plan?",
                    "expect": {
                        "cites": "annual-refunds",
                        "escalates": False,
                        "not_contains": ["Brightcart", "30 days"],
                        "no_pii": True,
                    },
                }
            ],
        }
    )
    suite_path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    junit = tmp_path / "junit.xml"
    code = main(["test", str(suite_path), config, "generation.max_new_tokens=40", "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3 of 3 turns passed" in out
    assert ET.parse(junit).getroot().get("failures") == "0"
