"""Agents' replies after a takeover as preference data (real SQLite store, no model): which replies
count, what they pair with, redaction, deduplication with /v1/feedback, ``since`` and ``source``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from supportkit.config import Config
from supportkit.recipes.agent_replies import is_chatter
from supportkit.recipes.feedback_export import export_rows
from supportkit.serving.auth import Principal
from supportkit.store import Message, Store

ANSWER = "Refunds are not possible after 30 days."
REPLY = "I have refunded order BC-12345 to your card; it shows in 3 to 5 working days."
HANDOFF = {"escalation": "human_request", "handoff": "Escalated: human_request", "intent": "get_refund"}
MODEL = {"adapter": "billing", "intent": "get_refund"}


def _agent(text: str, created_at: float | None = None) -> Message:
    return Message("agent", text, metadata={"agent": "sam.jones"}, created_at=created_at)


def _conversation(store: Store, cid: str, messages: list[Message], *, taken_over: bool = True) -> None:
    """A conversation of customer ``cust-7`` with ``messages`` (taken over before the first agent one)."""
    store.start_conversation(user_id="cust-7", conversation_id=cid)
    agent_at = next((i for i, m in enumerate(messages) if m.role == "agent"), len(messages))
    if messages[:agent_at]:
        store.append_messages(cid, messages[:agent_at])
    if taken_over and agent_at < len(messages):
        store.set_conversation_status(cid, "agent", agent="sam.jones")
    if messages[agent_at:]:
        store.append_messages(cid, messages[agent_at:])


def _texts(rows: list[dict[str, Any]], fmt: str) -> list[Any]:
    if fmt == "dpo":
        return [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows]
    return [(r["completion"][0]["content"], r["label"]) for r in rows]


def test_an_agent_reply_to_a_question_the_model_answered_pairs_over_that_answer(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _conversation(
        store,
        "c1",
        [
            Message("user", "Hello, I bought a lamp."),
            Message("assistant", "Happy to help with your lamp.", response_id="r1", metadata=MODEL),
            Message("user", "Can I get a refund for order BC-12345?"),
            Message("assistant", ANSWER, response_id="r2", metadata=MODEL),
            _agent("Hi, I'm Sam from billing."),  # consecutive agent messages read as one answer
            _agent(REPLY),
        ],
    )
    [pair] = export_rows(store, "dpo")
    assert pair["prompt"] == [
        {"role": "user", "content": "Hello, I bought a lamp."},
        {"role": "assistant", "content": "Happy to help with your lamp."},
        {"role": "user", "content": "Can I get a refund for order BC-12345?"},
    ]
    assert _texts([pair], "dpo") == [(f"Hi, I'm Sam from billing.\n\n{REPLY}", ANSWER)]
    ids = [m.id for m in store.conversation("c1").messages if m.role == "agent"]  # type: ignore[union-attr]
    assert pair["meta"] == {
        "conversation_id": "c1",
        "message_ids": ids,
        "response_id": "r2",
        "adapter": "billing",
        "intent": "get_refund",
    }
    kto = export_rows(store, "kto")
    assert _texts(kto, "kto") == [(f"Hi, I'm Sam from billing.\n\n{REPLY}", True), (ANSWER, False)]
    assert all(r["prompt"] == pair["prompt"] for r in kto)
    # after an answer the customer rated up no question was pending: the agent's follow-up is no answer
    store.add_feedback("r2", "up")
    assert export_rows(store, "dpo", source="agent") == export_rows(store, "kto", source="agent") == []


def test_after_a_hand_off_or_the_agent_notice_there_is_no_model_answer_to_reject(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    handoff_text = "I'm passing you to a colleague who will reply here shortly."
    _conversation(
        store,
        "c1",
        [
            Message("user", "I want to speak to a person."),
            Message("assistant", handoff_text, response_id="r1", metadata=HANDOFF),
            _agent("Hello, this is about order BC-12345: it was refunded yesterday."),
        ],
    )
    _conversation(  # the model answered, was taken over; the customer wrote twice (each got the notice)
        store,
        "c2",
        [
            Message("user", "Where is my parcel?"),
            Message("assistant", "It is on its way.", response_id="r2", metadata=MODEL),
        ],
    )
    store.set_conversation_status("c2", "agent", agent="sam.jones")
    store.append_messages("c2", [Message("user", "It is late."), Message("user", "Hello?")])
    store.append_messages("c2", [_agent("The courier lost it; a new one ships today.")])

    assert export_rows(store, "dpo") == []
    kto = export_rows(store, "kto")
    assert _texts(kto, "kto") == [
        ("Hello, this is about order BC-12345: it was refunded yesterday.", True),
        ("The courier lost it; a new one ships today.", True),
    ]
    assert kto[0]["prompt"] == [{"role": "user", "content": "I want to speak to a person."}]
    assert kto[0]["meta"]["response_id"] is None and kto[0]["meta"]["intent"] == "get_refund"
    assert kto[1]["prompt"] == [
        {"role": "user", "content": "Where is my parcel?"},
        {"role": "assistant", "content": "It is on its way."},
        {"role": "user", "content": "It is late.\n\nHello?"},
    ]
    assert handoff_text not in json.dumps([r["completion"] for r in kto])


def test_secrets_in_an_agent_reply_and_who_wrote_it_never_reach_the_export(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")  # a store that redacts nothing itself
    key, mail = "sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0", "ann.lee@example.com"
    _conversation(
        store,
        "c1",
        [
            Message("user", f"My login {mail} fails."),
            Message("assistant", "Reset your password.", response_id="r1", metadata=MODEL),
            _agent(f"I reset the account of {mail}; use the API key {key} until Monday."),
        ],
    )
    rows = export_rows(store, "dpo") + export_rows(store, "kto")
    text = json.dumps(rows)
    assert key not in text and mail not in text and "sam.jones" not in text and "cust-7" not in text
    assert (
        rows[0]["chosen"][0]["content"]
        == "I reset the account of [EMAIL]; use the API key [SECRET] until Monday."
    )
    assert rows[0]["prompt"] == [{"role": "user", "content": "My login [EMAIL] fails."}]


def test_after_a_hand_back_the_next_answer_is_not_paired_with_the_agent(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _conversation(
        store,
        "c1",
        [
            Message("user", "I want a person."),
            Message("assistant", "Passing you on.", response_id="r1", metadata=HANDOFF),
            _agent("Your replacement ships today."),
        ],
    )
    store.set_conversation_status("c1", "assistant")  # handed back: the assistant answers again
    store.append_messages(
        "c1",
        [
            Message("user", "Thanks. And the invoice?"),
            Message("assistant", "Open Account > Invoices.", response_id="r2", metadata=MODEL),
            Message("user", "Which format is it?"),
            Message("assistant", "It is a PDF.", response_id="r3", metadata=MODEL),
        ],
    )
    assert export_rows(store, "dpo") == []
    kto = export_rows(store, "kto")
    assert _texts(kto, "kto") == [("Your replacement ships today.", True)]
    assert kto[0]["prompt"] == [{"role": "user", "content": "I want a person."}]


def test_an_agent_correction_also_sent_as_feedback_is_one_row(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _conversation(
        store,
        "c1",
        [
            Message("user", "Can I get a refund?"),
            Message("assistant", ANSWER, response_id="r1", metadata=MODEL),
            _agent(f"  {REPLY}\n"),
        ],
    )
    store.add_feedback("r1", "down", correction=REPLY.replace("; it", ";  it"))  # same words, other spacing
    agent_only = export_rows(store, "dpo", source="agent")
    assert _texts(agent_only, "dpo") == [(REPLY, ANSWER)]
    [pair] = export_rows(store, "dpo")
    assert pair["meta"]["feedback_id"] == 1  # the feedback row is kept, the agent's duplicate dropped
    assert _texts(export_rows(store, "kto"), "kto") == [
        (ANSWER, False),
        (REPLY.replace("; it", ";  it"), True),
    ]
    assert _texts(export_rows(store, "kto", source="feedback"), "kto") == [
        (ANSWER, False),
        (REPLY.replace("; it", ";  it"), True),
    ]


def test_since_keeps_the_replies_written_at_or_after_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _conversation(
        store,
        "old",
        [
            Message("user", "Where is my parcel?", created_at=1000.0),
            Message("assistant", "On its way.", response_id="r1", metadata=MODEL, created_at=1001.0),
            _agent("It was delivered to your neighbour at number 12.", created_at=1002.0),
        ],
    )
    _conversation(
        store,
        "new",
        [
            Message("user", "Can I change my address?"),
            Message("assistant", "No.", response_id="r2", metadata=MODEL),
            _agent("Yes: Account > Addresses, before the parcel ships."),
        ],
    )
    since = time.time() - 60
    assert _texts(export_rows(store, "dpo", since=since), "dpo") == [
        ("Yes: Account > Addresses, before the parcel ships.", "No.")
    ]
    assert len(export_rows(store, "dpo")) == 2
    assert export_rows(store, "dpo", since=time.time() + 60) == []


def test_greetings_and_holding_lines_alone_are_not_answers(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _conversation(
        store,
        "c1",
        [
            Message("user", "My card was charged twice."),
            Message("assistant", "Please contact your bank.", response_id="r1", metadata=MODEL),
            _agent("Hi, I'm Sam from billing, let me check that for you."),
            Message("user", "ok"),
            _agent("I refunded the second charge; it shows in 3 days."),
            Message("user", "Thanks!"),
            _agent("You're welcome. Anything else I can help with?"),
        ],
    )
    assert export_rows(store, "dpo") == []  # the substantive reply came after the customer's "ok"
    [row] = export_rows(store, "kto")
    assert row["completion"][0]["content"] == "I refunded the second charge; it shows in 3 days."
    assert row["prompt"][-1] == {"role": "user", "content": "ok"}
    assert row["prompt"][-2]["content"].endswith("Hi, I'm Sam from billing, let me check that for you.")


@pytest.mark.parametrize(
    ("text", "chatter"),
    [
        ("Hi, I'm Sam from billing, let me check that for you.", True),
        ("Thanks, Sam! Have a nice day.", True),
        ("One moment please.", True),
        ("Did that help?", True),
        ("Hi Anna, refunds take 5 days.", False),
        ("Yes.", False),
        ("I'll look into it and refund you today.", False),
        ("Sorry for the wait. It arrives tomorrow.", False),
    ],
)
def test_what_counts_as_chatter(text: str, chatter: bool) -> None:
    assert is_chatter(text) is chatter


def test_a_rated_down_hand_off_or_quote_rejects_only_the_models_own_words(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    withheld = {"escalation": "low_groundedness", "withheld": "Refunds take 90 days."}
    _conversation(
        store,
        "c1",
        [
            Message("user", "I want a person."),
            Message("assistant", "Passing you on.", response_id="r1", metadata=HANDOFF),
            Message("user", "How long do refunds take?"),
            Message("assistant", "Refunds: 5 days.", response_id="r2", metadata={"quoted": True}),
            Message("user", "And for a gift card?"),
            Message("assistant", "Passing you on.", response_id="r3", metadata=withheld),
        ],
    )
    store.add_feedback("r1", "down", correction="Your order BC-12345 was refunded.")
    store.add_feedback("r2", "down", correction="Refunds take 5 working days.")
    store.add_feedback("r3", "down", correction="Gift cards are refunded at once.")
    # the model wrote neither the hand-off nor the quote; it did write the answer the hand-off withheld
    assert _texts(export_rows(store, "dpo"), "dpo") == [
        ("Gift cards are refunded at once.", "Refunds take 90 days.")
    ]
    assert _texts(export_rows(store, "kto"), "kto") == [
        ("Your order BC-12345 was refunded.", True),
        ("Refunds take 5 working days.", True),
        ("Refunds take 90 days.", False),
        ("Gift cards are refunded at once.", True),
    ]


def test_source_picks_where_rows_come_from_in_the_command_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supportkit.cli import main

    store = Store(tmp_path / "store.db")
    _conversation(
        store,
        "c1",
        [
            Message("user", "Hello, can I pay by invoice?"),
            Message("assistant", "No.", response_id="r1", metadata=MODEL),
            Message("user", "Where is my parcel?"),
            Message("assistant", "Nobody knows.", response_id="r2", metadata=MODEL),
            _agent("It is at the depot and arrives tomorrow."),
        ],
    )
    store.add_feedback("r1", "down", correction="Yes, for orders over 100 EUR.")
    both = export_rows(store, "dpo")
    assert _texts(both, "dpo") == [
        ("Yes, for orders over 100 EUR.", "No."),
        ("It is at the depot and arrives tomorrow.", "Nobody knows."),
    ]
    assert export_rows(store, "dpo", source="feedback") == both[:1]
    assert export_rows(store, "dpo", source="agent") == both[1:]
    with pytest.raises(ValueError, match="source 'agents' is not one of all, feedback, agent"):
        export_rows(store, "dpo", source="agents")

    out = tmp_path / "agent.jsonl"
    config = f"prompt.store_path={tmp_path / 'store.db'}"
    assert (
        main(["feedback", "export", config, "--format", "dpo", "--source", "agent", "--output", str(out)])
        == 0
    )
    assert "wrote 1 preference pairs" in capsys.readouterr().out
    assert [json.loads(line) for line in out.read_text().splitlines()] == both[1:]
    assert main(["feedback", "export", config, "--format", "dpo", "--output", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 2  # both sources by default


def test_an_answer_handed_off_after_generation_is_kept_and_rejected_under_the_agent_reply(
    tiny_config: Config, tmp_path: Path
) -> None:
    """Pipeline -> server store -> export: the ungrounded answer the hand-off replaced is stored
    (never returned by the API) and is what the agent's reply is preferred over."""
    from supportkit.serving.engine import _result
    from supportkit.serving.store_io import commit_turn, conversation_body
    from tests.unit.test_pipeline_stream_checks import ScriptedDecoder, _pipeline

    pipeline = _pipeline(tiny_config, tmp_path, "guardrails.on_ungrounded=escalate", knowledge=True)
    invented = "Returns are accepted for 90 days."  # a figure in no article: handed off after generation
    ScriptedDecoder.script[0] = invented
    answered = pipeline.respond("How long do I have to return an item?")
    handle = pipeline.stream("How long do I have to return an item?")
    streamed = "".join(handle)
    handoff = pipeline.config.guardrails.handoff_message
    assert answered.escalation is not None and answered.escalation["reason"] == "low_groundedness"
    assert answered.text == handoff and answered.withheld == invented
    assert handle.response is not None and handle.response.withheld == invented
    assert invented not in streamed

    store = Store(tmp_path / "server.db")
    state = cast(Any, SimpleNamespace(store=store))
    principal = Principal("web", "chat")
    question = "How long do I have to return an item?"
    commit_turn(state, "c1", None, principal, question, answered.text, "r1", _result(answered), 0.5, None)
    store.set_conversation_status("c1", "agent", agent="sam.jones")
    store.append_messages("c1", [_agent("You have 30 days from delivery to return it.")])
    body = conversation_body(store.conversation("c1"))
    assert invented not in json.dumps(body)  # the customer's page never sees it
    assert _texts(export_rows(store, "dpo"), "dpo") == [
        ("You have 30 days from delivery to return it.", invented)
    ]
    assert _texts(export_rows(store, "kto"), "kto") == [
        ("You have 30 days from delivery to return it.", True),
        (invented, False),
    ]
