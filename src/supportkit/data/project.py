"""The bundled example company (Brightcart, a fictional online store, in ``data/`` of a source
checkout): opt-in, never a silent default.

A config without data uses no example: nothing here is applied unless asked for by name, with
``configs/example-store.yaml`` (every path written out), the demo (``configs/demo.yaml``), or
:func:`use_example_store` in code. A wheel install has no ``data/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from supportkit.errors import ConfigError

DATA_DIR = Path(__file__).resolve().parents[3] / "data"
#: 30 hand-written question/answer pairs with intents: the example store's few-shot bank.
FEW_SHOT = DATA_DIR / "few_shot_examples.jsonl"
#: 406 conversations of a fictional online store over 24 intents.
CONVERSATIONS = DATA_DIR / "store" / "conversations.jsonl"
#: 20 help-centre articles of the same store.
KNOWLEDGE_BASE = DATA_DIR / "knowledge_base"
#: Questions labelled with the article that answers them.
RETRIEVAL_EVAL = DATA_DIR / "eval" / "retrieval.jsonl"
#: Requests labelled with whether (and why) they go to a person.
ESCALATION_EVAL = DATA_DIR / "eval" / "escalation.jsonl"
#: The example store's prompt set (an online store's persona and roles).
EXAMPLE_PROMPT_SET = "retail"


def use_example_store(config: Any) -> Any:
    """Point every data path ``config`` leaves unset at the bundled example store, and use its
    online-store prompt set unless another one is set. For the demo, tests and benchmarks: a
    company's own project never calls this.

    Returns ``config`` (changed in place). Raises :class:`ConfigError` when ``data/`` is not
    there (an installed wheel): configure the paths explicitly then.
    """
    if not KNOWLEDGE_BASE.is_dir():
        raise ConfigError(
            f"the example store's data ({DATA_DIR}) is not here: it ships with a source checkout "
            "only; set knowledge.path, data.train_file and prompt.few_shot_file to your own files"
        )
    if not config.prompt.few_shot_file:
        config.prompt.few_shot_file = str(FEW_SHOT)
    if not config.knowledge.path:
        config.knowledge.path = str(KNOWLEDGE_BASE)
    if not config.guardrails.intent_file:
        config.guardrails.intent_file = str(CONVERSATIONS)
    if not config.data.train_file:
        config.data.train_file = str(CONVERSATIONS)
    if config.prompt.prompt_set == "general":
        config.prompt.prompt_set = EXAMPLE_PROMPT_SET
    return config


#: The old name, kept for callers that opted in with it (it no longer runs implicitly anywhere).
apply_project_defaults = use_example_store
