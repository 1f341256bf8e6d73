"""Guardrails: slots, redaction, leak check, length, escalation rules, intent k-NN, groundedness."""

from __future__ import annotations

from pathlib import Path

import pytest

from supportkit.config import Config, GuardrailsConfig
from supportkit.errors import ConfigError
from supportkit.guardrails.escalation import handoff_summary, request_escalation
from supportkit.guardrails.groundedness import GroundednessChecker, extract_answer, source_sentences
from supportkit.guardrails.intent import IntentDetector, IntentGuess
from supportkit.guardrails.output import (
    drop_unfinished_sentence,
    enforce_length,
    fill_slots,
    guard_text,
    leaked_words,
    rephrase_slot,
)
from supportkit.prompts.prompt_sets import load_prompt_set
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import HashingEmbedder, MiniLMEmbedder
from supportkit.retrieval.knowledge import Hit
from supportkit.retrieval.passages import Passage

RETURNS = Passage(
    "returns#0",
    "returns",
    "Returns policy",
    "",
    "Brightcart accepts returns within **30 days of delivery** (Brightcart Plus members: **60 days**).\n"
    "Items must be unused, with their original tags and\npackaging. Return shipping is free.",
    "returns.md",
)


def _guard(text: str, **overrides: object) -> tuple[str, dict[str, int]]:
    settings: dict[str, object] = dict(
        slot_values={},
        redact_pii=True,
        system_texts=[load_prompt_set("retail").system],
        leak_min_words=12,
        leak_message="LEAK",
        max_chars=None,
        stop_sequences=(),
    )
    settings.update(overrides)
    out = guard_text(text, **settings)  # type: ignore[arg-type]
    return out.text, out.changes


# --- template slots ---------------------------------------------------------------------------------
def test_slots_are_filled_from_context_whatever_the_key_spelling() -> None:
    text, filled, rephrased = fill_slots(
        "Your order {{Order Number}} ships to {{ delivery address }}.",
        {"order_number": "BC-12345", "DeliveryAddress": "1 Main St"},
    )
    assert text == "Your order BC-12345 ships to 1 Main St." and (filled, rephrased) == (2, 0)


def test_unknown_slots_are_rephrased_and_no_braces_survive() -> None:
    text, filled, rephrased = fill_slots(
        "Find {{Order Number}} on {{Website URL}} or call {{Customer Support Phone Number}}. {{",
        {"irrelevant": "x"},
    )
    assert "{" not in text and "}" not in text and (filled, rephrased) == (0, 3)
    assert "Find your order number on our website url or call our customer support phone number." in text
    assert rephrase_slot("Order Number") == "your order number"
    # an article before the slot is not doubled
    assert fill_slots("Check the {{Order Number}} please", {})[0] == "Check the order number please"


def test_config_slots_and_profile_fill_through_guard_text() -> None:
    text, changes = _guard(
        "Call {{Support Phone}} about {{Order Number}}.", slot_values={"Support Phone": "1-800-555-0100"}
    )
    assert text.startswith("Call [PHONE] about your order number") and changes["slots_filled"] == 1
    assert changes["slots_rephrased"] == 1 and changes["redacted"] == 1


# --- redaction, leak, length ------------------------------------------------------------------------
def test_redaction_of_emails_phones_and_luhn_valid_cards_only() -> None:
    text, changes = _guard(
        "Mail jane.doe@example.com or call +1 (555) 123-4567. Card 4111 1111 1111 1111, "
        "order BC-12345, ref 1234 5678 9012 3456."
    )
    assert "jane.doe" not in text and "[EMAIL]" in text and "[PHONE]" in text and "[CARD]" in text
    assert "BC-12345" in text and "1234 5678 9012 3456" in text  # not Luhn-valid: left alone
    assert changes["redacted"] == 3
    assert _guard("nothing personal here", redact_pii=True)[1] == {}
    assert "a@b.co" in _guard("write to a@b.co", redact_pii=False)[0]


def test_system_prompt_leak_is_replaced_but_short_overlap_is_not() -> None:
    system = load_prompt_set("retail").system
    leaked = "Sure! My instructions: " + " ".join(system.split()[:20])
    assert leaked_words(leaked, [system]) >= 12
    assert _guard(leaked) == ("LEAK", {"leak_replaced": 1})
    fine = "Please answer the customer's question about the refund: it is on its way."
    assert _guard(fine)[0] == fine


def test_length_and_stop_sequences() -> None:
    text, cut = enforce_length("First sentence. Second sentence. Third one is long.", 35)
    assert (text, cut) == ("First sentence. Second sentence.", True)
    text, cut = enforce_length("Answer here.\nUser: ignore this", None, ["\nUser:"])
    assert (text, cut) == ("Answer here.", True)
    assert enforce_length("short", 100) == ("short", False)
    assert enforce_length("averyveryverylongword and more words", 20)[0].endswith("…")


# --- escalation ---------------------------------------------------------------------------------------
def test_an_answer_cut_by_max_new_tokens_loses_its_unfinished_sentence() -> None:
    cut = "Returns are free. You have 30 days after receiving it ("
    assert drop_unfinished_sentence(cut) == ("Returns are free.", True)
    assert drop_unfinished_sentence("Returns are free. Use the label.") == (
        "Returns are free. Use the label.",
        False,
    )
    assert drop_unfinished_sentence("no sentence ends here") == ("no sentence ends here", False)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("I want to speak to a person", "human_request"),
        ("Can I talk to a real human please?", "human_request"),
        ("Operator please", "human_request"),
        ("My lawyer will contact you", "legal"),
        ("Where is my parcel?", None),
        ("How do I talk my way out of shipping fees?", None),
    ],
)
def test_escalation_patterns(query: str, reason: str | None) -> None:
    found = request_escalation(query, GuardrailsConfig(), intent=None, best_passage=None, best_example=None)
    assert (found[0] if found else None) == reason


def test_escalation_by_intent_confidence_and_no_match() -> None:
    s = GuardrailsConfig(min_intent_confidence=0.5)
    complaint = IntentGuess("complaint", 0.8, 0.7)
    assert request_escalation("x", s, intent=complaint, best_passage=0.9, best_example=0.9) == (
        "intent:complaint",
        "detected intent complaint (confidence 0.80)",
    )
    unsure = IntentGuess("complaint", 0.3, 0.7)
    assert request_escalation("x", s, intent=unsure, best_passage=0.9, best_example=0.9) is None
    reason = request_escalation("x", s, intent=None, best_passage=0.1, best_example=0.2)
    assert reason is not None and reason[0] == "no_match"
    # a good example match, or no knowledge base at all, is not "nothing relevant"
    assert request_escalation("x", s, intent=None, best_passage=0.1, best_example=0.9) is None
    assert request_escalation("x", s, intent=None, best_passage=None, best_example=0.1) is None
    assert (
        request_escalation(
            "x", GuardrailsConfig(escalate_patterns={}), intent=None, best_passage=None, best_example=None
        )
        is None
    )


def test_handoff_summary_has_intent_questions_articles_and_profile_without_secrets() -> None:
    summary = handoff_summary(
        "human_request",
        "asked for a person",
        query="Let me speak to someone",
        history=[{"role": "user", "content": "My refund is late"}, {"role": "assistant", "content": "..."}],
        intent=IntentGuess("refund_status", 0.6, 0.7),
        hits=[Hit(RETURNS, 0.5, 0.42)],
        profile={"name": "Jane", "password": "hunter2", "tier": "Plus"},
    )
    assert summary.questions == ["My refund is late", "Let me speak to someone"]
    assert summary.retrieved == [{"title": "Returns policy", "article": "returns", "similarity": 0.42}]
    text = summary.to_text()
    assert "refund_status" in text and "- name: Jane" in text and "hunter2" not in text


def test_bad_escalation_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"escalate_patterns.human_request"):
        Config.from_dict({"guardrails": {"escalate_patterns": {"human_request": "(unclosed"}}})
    with pytest.raises(ConfigError, match="on_ungrounded"):
        Config.from_dict({"guardrails": {"on_ungrounded": "ignore"}})


# --- intent detection ---------------------------------------------------------------------------------
def test_intent_detector_votes_among_nearest_labelled_examples() -> None:
    bank = ExampleBank(embedder=HashingEmbedder())
    for q in ("charged twice for my order", "double charge on card", "two charges for one order"):
        bank.add(q, "We refund duplicates.", intent="duplicate_charge")
    for q in ("where is my parcel", "track my parcel please"):
        bank.add(q, "Track it.", intent="track_order")
    bank.add("an unlabelled question about parcels", "x")
    detector = IntentDetector(bank, k=3)
    guess = detector.detect("I was charged twice for one order")
    assert guess.intent == "duplicate_charge" and guess.confidence > 0.5 and guess.similarity > 0
    assert detector.detect("where is my parcel").intent == "track_order"
    from supportkit.data.readers import QAExample

    assert detector.accuracy([QAExample("where is my parcel now", "a", "track_order")]) == 1.0
    assert IntentDetector(ExampleBank(embedder=HashingEmbedder())).detect("x").intent is None


# --- groundedness (real MiniLM: it is what the thresholds were measured with) --------------------------
@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_source_sentences_rejoin_wrapped_lines() -> None:
    parts = source_sentences(RETURNS.text)
    assert "Items must be unused, with their original tags and packaging." in parts


def test_groundedness_supports_the_article_and_flags_a_contradiction(minilm: MiniLMEmbedder) -> None:
    checker = GroundednessChecker(minilm, threshold=0.55)
    faithful = checker.check(
        "You can return items within 30 days of delivery. Plus members have 60 days.", [RETURNS]
    )
    assert faithful.score == 1.0 and faithful.acceptable(0.5) and faithful.articles == ["returns"]
    contradiction = checker.check(
        "You can return items within 90 days of delivery. Return shipping costs $15.", [RETURNS]
    )
    assert not contradiction.acceptable(0.5)
    assert contradiction.invented_numbers == ["15", "90"] and contradiction.score < 0.5
    unrelated = checker.check("Our cafeteria serves pasta on Fridays and pizza on Mondays.", [RETURNS])
    assert unrelated.score == 0.0 and not unrelated.acceptable(0.5)
    # courtesy is not a claim; numbers from the question count as known
    assert checker.check("Sorry to hear that!", [RETURNS]).claims == 0
    ok = checker.check(
        "Your order BC-12345 can be returned within 30 days of delivery.",
        [RETURNS],
        ["Can I return order BC-12345?"],
    )
    assert ok.invented_numbers == []


def test_extractive_answer_quotes_the_most_relevant_sentence(minilm: MiniLMEmbedder) -> None:
    answer = extract_answer("How long do I have to return an item?", [RETURNS], minilm)
    assert "30 days of delivery" in answer and "**" not in answer


def test_guardrails_config_round_trips(tmp_path: Path) -> None:
    config = Config().with_overrides(["guardrails.slots.Order Number=BC-1", "knowledge.top_k=2"])
    config.to_yaml(tmp_path / "c.yaml")
    again = Config.from_yaml(tmp_path / "c.yaml")
    assert again.guardrails.slots == {"Order Number": "BC-1"} and again.knowledge.top_k == 2
    assert again.guardrails.escalate_patterns == config.guardrails.escalate_patterns
