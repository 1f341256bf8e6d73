"""The project's own data (``data/`` of a source checkout): defaults for the CLI and the demo.

A wheel install has no ``data/``: there, configure the paths explicitly; nothing here is required.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parents[3] / "data"
#: 30 hand-written question/answer pairs with intents: the default few-shot bank.
FEW_SHOT = DATA_DIR / "few_shot_examples.jsonl"
#: 406 conversations of a fictional online store over 24 intents.
CONVERSATIONS = DATA_DIR / "store" / "conversations.jsonl"
#: 20 help-centre articles of the same store.
KNOWLEDGE_BASE = DATA_DIR / "knowledge_base"
#: Questions labelled with the article that answers them.
RETRIEVAL_EVAL = DATA_DIR / "eval" / "retrieval.jsonl"
#: Requests labelled with whether (and why) they go to a person.
ESCALATION_EVAL = DATA_DIR / "eval" / "escalation.jsonl"


def apply_project_defaults(config: Any) -> Any:
    """Fill unset paths with the project's data when it is there (a source checkout)."""
    if not config.prompt.few_shot_file and FEW_SHOT.is_file():
        config.prompt.few_shot_file = str(FEW_SHOT)
    if not config.knowledge.path and KNOWLEDGE_BASE.is_dir():
        config.knowledge.path = str(KNOWLEDGE_BASE)
    if not config.guardrails.intent_file and CONVERSATIONS.is_file():
        config.guardrails.intent_file = str(CONVERSATIONS)
    if not config.data.train_file and CONVERSATIONS.is_file():
        config.data.train_file = str(CONVERSATIONS)
    return config
