"""Replies a person typed after taking a conversation over, read as answers to learn from.

:func:`agent_answers` finds them in one stored conversation; :mod:`supportkit.recipes.feedback_export`
turns them into rows. The rules:

* **One answer**: consecutive 'agent' messages (system messages between them ignored) read as one
  answer, joined with a blank line, as the export's prompt merges consecutive turns of one speaker.
* **Not chatter**: an answer whose every sentence is a greeting, an introduction, thanks, a holding
  line or a sign-off ("Hi, I'm Sam.", "One moment please.", "Anything else I can help with?") says
  nothing about the question and is left out (:func:`is_chatter`); the customer's next message and
  the agent's next reply make the next answer.
* **The question**: the customer's message(s) before the reply; the prompt is the conversation
  before it (``cut``), rebuilt exactly as for rated answers.
* **The failed answer**: when the reply comes right after an assistant message (the agent took
  over after it and answered the same question), the prompt stops before that message and the
  model's own words in it (:func:`own_answer`) are the ``failed`` answer, the rejected side: the
  answer itself, or for a hand-off decided after generation (not grounded enough) the generated
  answer it withheld; a hand-off decided before generating, a quoted article, a blank answer have
  none. When the customer wrote while the conversation was taken over, the assistant only sent the
  agent notice (not stored): there is no failed answer, the reply is a good answer on its own.
* **Rated up**: an assistant message the customer rated up (their latest rating) left no question
  pending: a reply right after it is a follow-up, not an answer, and is left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from supportkit.store import Conversation, Message

_WORDS = r"(?:\s\w+)"
#: Whole sentences (lower case, punctuation removed) that say nothing about the question.
_CHATTER = re.compile(
    r"(?:hi|hello|hey|dear|greetings|good\s(?:morning|afternoon|evening))" + _WORDS + "{0,2}"
    r"|(?:my\sname\sis|i\sam|i'm)\s\w+(?:\s(?:from|with|at|of|on)" + _WORDS + "{1,3})?"
    r"|\w+\shere" + _WORDS + "{0,3}"
    r"|(?:many\s)?(?:thanks|thank\syou|thx|ty)" + _WORDS + "{0,4}"
    r"|(?:you're|you\sare)\s(?:very\s|most\s)?welcome"
    r"|(?:no\sproblem|sure|ok|okay|great|alright|of\scourse|certainly|absolutely|got\sit|understood|noted)"
    r"|(?:i'm\s|i\sam\s)?(?:so\s)?sorry\sfor\sthe\s(?:wait|delay)"
    r"|(?:let\sme|i'll|i\swill|i'm\sgoing\sto|i\sam\sgoing\sto)\s(?:check|look|have\sa\slook|take\sa\slook"
    r"|see|find\sout|investigate)" + _WORDS + "{0,4}"
    r"|(?:please\s)?(?:one|just\sa|give\sme\sa)\s(?:moment|minute|second|sec)" + _WORDS + "{0,2}"
    r"|(?:please\s)?(?:bear\swith\sme|hold\son)"
    r"|(?:have\sa\s(?:nice|good|great|lovely)\s(?:day|evening|weekend))"
    r"|(?:bye|goodbye|take\scare|cheers)"
    r"|(?:is\sthere\s)?anything\selse" + _WORDS + "{0,6}"
    r"|(?:how\s)?(?:can|may)\si\s(?:help|assist)" + _WORDS + "{0,3}"
    r"|(?:did|does|has)\s(?:that|this)\s(?:help|solve|answer|work)" + _WORDS + "{0,4}"
    r"|(?:happy|glad)\sto\shelp"
)


@dataclass(frozen=True)
class AgentAnswer:
    """One answer an agent typed: ``text`` (its messages joined), their row ``message_ids``, the
    index in ``conversation.messages`` the prompt stops at (``cut``), the assistant's ``failed``
    answer it replaces (``None`` when there is none to reject), the latest assistant message before
    it (``last_assistant``: adapter and intent) and when its last message was written (unix s)."""

    text: str
    message_ids: list[int]
    cut: int
    #: The assistant message replaced; its own words: ``own_answer(failed.content, failed.metadata)``.
    failed: Message | None
    last_assistant: Message | None
    written_at: float


def own_answer(content: str, metadata: Mapping[str, Any] | None) -> str:
    """The model's own words in a stored answer, ``""`` when there are none: an escalated answer's
    text is the hand-off message (its ``withheld`` metadata holds the generated answer the hand-off
    replaced, when there was one), a ``quoted`` one is an article's sentences."""
    meta = metadata or {}
    if meta.get("escalation"):
        withheld = meta.get("withheld")
        return withheld.strip() if isinstance(withheld, str) else ""
    return "" if meta.get("quoted") else content.strip()


def is_chatter(text: str) -> bool:
    """True when every sentence or clause of ``text`` is a greeting, an introduction, thanks, a holding
    line or a sign-off (a lone word right after one, "Hi, Anna", is the name it greets)."""
    clauses = [
        " ".join(re.sub(r"[^\w\s']", " ", part).split())
        for part in re.split(r"[.!?,;\n]+", text.lower().replace("\u2019", "'"))
    ]
    after_chatter = False
    for clause in filter(None, clauses):
        if _CHATTER.fullmatch(clause) or (after_chatter and " " not in clause):
            after_chatter = True
            continue
        return False
    return True


def agent_answers(conversation: Conversation, ratings: Mapping[str, str] | None = None) -> list[AgentAnswer]:
    """The agent's answers in ``conversation`` (its messages oldest first), oldest first.

    ``ratings``: the latest rating ('up'/'down') per response id; a reply right after an answer rated
    up is no answer (the customer was content).
    """
    ratings = ratings or {}
    messages = conversation.messages
    found: list[AgentAnswer] = []
    i = 0
    while i < len(messages):
        if messages[i].role != "agent":
            i += 1
            continue
        start, block = i, []
        while i < len(messages) and messages[i].role in ("agent", "system"):
            if messages[i].role == "agent" and messages[i].content.strip():
                block.append(messages[i])
            i += 1
        text = "\n\n".join(m.content.strip() for m in block)
        if not block or is_chatter(text):
            continue
        before = start - 1
        while before >= 0 and messages[before].role == "system":
            before -= 1
        cut, failed = start, None
        if before >= 0 and messages[before].role == "assistant":
            candidate = messages[before]
            if ratings.get(candidate.response_id or "") == "up":
                continue  # the customer was content: nothing pending, a follow-up is no answer
            cut = before  # the agent answered the question this message answered
            if own_answer(candidate.content, candidate.metadata):
                failed = candidate
        last = next((m for m in reversed(messages[:start]) if m.role == "assistant"), None)
        found.append(
            AgentAnswer(
                text=text,
                message_ids=[int(m.id or 0) for m in block],
                cut=cut,
                failed=failed,
                last_assistant=last,
                written_at=float(block[-1].created_at or 0.0),
            )
        )
    return found


def latest_ratings(records: list[Any]) -> dict[str, str]:
    """The latest rating per response id, from feedback records listed newest first."""
    latest: dict[str, str] = {}
    for record in records:
        latest.setdefault(record.response_id, record.rating)
    return latest
