"""The secrets policy, PII redaction (phonenumbers + python-stdnum) and the log filter."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportkit.guardrails.escalation import handoff_summary
from supportkit.guardrails.output import fill_slots
from supportkit.privacy import DEFAULT_SECRET_FIELDS, SecretsPolicy, redact, render_user_context
from supportkit.privacy.logfilter import install_log_redaction
from supportkit.privacy.pii import find_pii

SECRETS = ["hunter2", "sk-proj-abc123def456ghi789", "4111 1111 1111 1111", "DE89370400440532013000", "4921"]


# --- secrets policy -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "API Key",
        "api-key",
        "apiKey",
        "API_KEYS",
        "apikey",
        "pin",
        "PIN code",
        "Password",
        "userPassword",
        "passcode",
        "accessToken",
        "client_secret",
        "Authorization",
        "session_id",
        "cookie",
        "otp",
        "2FA code",
        "one-time code",
        "verification_code",
        "Security Answer",
        "securityQuestion",
        "mothers_maiden_name",
        "card_number",
        "CardNumber",
        "cvv",
        "CVC2",
        "card expiry",
        "exp_month",
        "bank_account",
        "account number",
        "routing_number",
        "IBAN",
        "sort-code",
        "SSN",
        "passport",
        "Passport Number",
        "tax_id",
        "national-insurance-number",
        "driver's license",
        "aadhaar",
        "CPF",
    ],
)
def test_secret_field_names_match_in_every_spelling(name: str) -> None:
    assert SecretsPolicy().is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "name",
        "email",
        "account_type",
        "shipping_address",
        "order_id",
        "compass",
        "join_date",
        "card_last4",
        "classname",
        "keyboard_layout",
        "previous_issues",
        "plan",
    ],
)
def test_ordinary_field_names_are_kept(name: str) -> None:
    assert not SecretsPolicy().is_secret_name(name)


def test_user_context_withholds_secrets_nested_and_by_value() -> None:
    profile = {
        "account_type": "premium",
        "API Key": "abc",
        "pin": "4921",
        "credentials": {"pass": "hunter2", "user": "jane"},
        "devices": [{"name": "phone", "pairing": {"otp": "123456"}}, "sk-proj-abc123def456ghi789"],
        "notes": "paid with 4111 1111 1111 1111 last week",
        "payout": "DE89 3704 0044 0532 0130 00",
        "ref": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlMTIz",
    }
    lines = "\n".join(render_user_context(profile))
    assert "- account type: premium" in lines and "name: phone" in lines and "paid with" in lines
    for secret in (*SECRETS, "abc", "123456", "eyJhbGci", "DE89"):
        assert secret not in lines, secret
    extra = SecretsPolicy(("loyalty word",))
    assert render_user_context({"LoyaltyWord": "tulip", "plan": "pro"}, extra) == ["- plan: pro"]
    # national IDs inside free text are secrets too (as in the question and the store)
    notes = {"notes": "SSN 536-90-4399, passport number X1234567, NI number JG103759A", "ref": "536-90-4399"}
    lines = "\n".join(render_user_context(notes))
    assert "- notes: SSN [withheld]" in lines
    for secret in ("536-90-4399", "X1234567", "JG103759A"):
        assert secret not in lines, secret


def test_slots_are_never_filled_from_withheld_fields() -> None:
    values = {
        "password": "hunter2",
        "api_key": "sk-1",
        "PIN": "4921",
        "note": "4111111111111111",
        "order": "BC-1",
    }
    text, filled, rephrased = fill_slots(
        "Use {{password}} and {{API Key}} with {{Pin}}, {{Security Answer}}, {{note}} for {{order}}.", values
    )
    assert "hunter2" not in text and "sk-1" not in text and "4921" not in text and "4111" not in text
    assert "{" not in text and "BC-1" in text and (filled, rephrased) == (1, 5)
    assert "your password" in text


def test_handoff_summary_shows_only_allow_listed_fields_and_scrubs_questions() -> None:
    summary = handoff_summary(
        "human_request",
        "asked",
        query="my card 4111 1111 1111 1111 was charged twice, call +14155550132",
        history=[],
        intent=None,
        hits=[],
        profile={
            "name": "Jane",
            "order_id": "BC-12345",
            "favourite_colour": "red",
            "password": "hunter2",
            "email": "jane@example.com",
        },
        redact=redact,
    )
    text = summary.to_text()
    assert "Jane" in text and "BC-12345" in text
    assert "red" not in text and "hunter2" not in text and "4111" not in text and "4155550132" not in text
    assert "[EMAIL]" in text


# --- PII ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN"),
        ("call +14155550132 now", "PHONE"),
        ("ring 020 7946 0018", "PHONE"),
        ("my SSN is 123-45-6789", "ID"),
        ("write to jane.doe@example.co.uk", "EMAIL"),
        ("card 5555-5555-5555-4444", "CARD"),
        ("4111111111111111 is my card", "CARD"),
        ("for my order: 4111 1111 1111 1111", "CARD"),  # grouped as a card is: a card whatever the label
        ("order 12, card 4111111111111111", "CARD"),
        ("order sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "SECRET"),  # a known key format always counts
        ("token 9f86d081884c7d659a2feaa0c55ad015", "SECRET"),
    ],
)
def test_pii_found(text: str, kind: str) -> None:
    assert [s.kind for s in find_pii(text)] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "invoice 2023-0456-7890",
        "Order 2024 1234 5678",
        "server 192.168.1.1 and 10.0.0.12",
        "tracking 1Z999AA10123456784",
        "version 2.14.3 at 10:30 on 2024-03-15 for $1,234.56",
        "order 550e8400-e29b-41d4-a716-446655440000",
        # long references that pass a card's issuer and Luhn checks, labelled as what they are
        "Order 4111111111111111 was shipped",
        "Your tracking number is 378282246310005.",
        "Reference: 5555555555554444, invoice no. 6011111111111117",
        "your order number is 4155552671 and ships today",
        "order 9f86d081884c7d659a2feaa0c55ad015 shipped; transaction id: 5f3a9c2e7b1d4e8fa6c0",
        "Your password is case-sensitive. Passwords: at least eight characters.",
        "Basic authentication is off; token validation failed; the PIN is printed on the card.",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert redact(text) == text


_text = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=60),
    st.text("0123456789 +-().:/@abcDEGB", max_size=40),  # digit-heavy: phones, cards, IBANs, IDs
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(_text, st.sampled_from([*SECRETS, "jane@example.com", "+44 20 7946 0018"])), max_size=6
    )
)
def test_redaction_is_idempotent_and_never_keeps_what_it_replaced(parts: list[str]) -> None:
    text = " ".join(parts)
    once = redact(text)
    assert redact(once) == once
    for span in find_pii(text):
        found = text[span.start : span.end]
        if len(found) >= 6:  # each replaced occurrence is gone (the same digits may stand elsewhere)
            assert once.count(found) < text.count(found)


def test_secrets_in_text_are_redacted_value_only() -> None:
    text = "password is hunter2. PIN: 4921, api_key=abcdef and Authorization: Bearer abc123def456"
    assert redact(text) == "password is [SECRET]. PIN: [SECRET], api_key=[SECRET] and Authorization: [SECRET]"


def test_a_labelled_value_that_starts_a_number_takes_the_whole_number() -> None:
    """The labelled-secret rule takes one word ("4111"); the card or IBAN it starts is replaced to
    its end, not left with twelve of its digits."""
    for text, rest in (
        ("Your password is 4111 1111 1111 1111 now.", "1111"),
        ("PIN: DE89 3704 0044 0532 0130 00 please", "3704"),
        ("token = 4111-1111-1111-1111", "1111"),
        ("Old DE89 3704 0044 0532 0130 00 PIN is GB82 WEST 1234 5698 7654 32", "5698"),  # a 2nd IBAN
    ):
        redacted = redact(text)
        assert rest not in redacted and "[SECRET]" in redacted, redacted
        assert redact(redacted) == redacted


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("supportkit.test.privacy")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        install_log_redaction(logger=logger)
        record = logger.makeRecord(
            logger.name,
            logging.WARNING,
            __file__,
            1,
            "user %s password: %s",
            ("jane@example.com", "hunter2"),
            None,
        )
        for f in handler.filters:
            assert isinstance(f, logging.Filter) and f.filter(record)
        assert record.getMessage() == "user [EMAIL] password: [SECRET]"
    finally:
        logger.removeHandler(handler)


def test_exception_text_in_log_records_is_redacted() -> None:
    import io

    logger = logging.getLogger("supportkit.test.privacy.exc")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install_log_redaction(logger=logger)
        try:
            raise ValueError("cannot parse 'card 4111 1111 1111 1111, mail jane@example.com'")
        except ValueError:
            logger.exception("request failed for %s", "jane@example.com")
        text = out.getvalue()
        assert "Traceback" in text and "ValueError: cannot parse 'card [CARD], mail [EMAIL]'" in text
        assert "4111" not in text and "jane@" not in text
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_labelled_pii_set_meets_its_targets() -> None:
    import json
    from pathlib import Path

    from benchmarks.bench_pii import DATA, score

    rows = [json.loads(line) for line in Path(DATA).read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 60 and sum(1 for r in rows if r.get("lookalike")) >= 20
    table, errors, lookalike_fp = score(rows)
    assert lookalike_fp == 0, errors
    assert all(float(r["recall"]) >= 0.95 for r in table), table


def _spell(words: list[str], style: str) -> str:
    if style == "camel":
        return words[0].lower() + "".join(w.capitalize() for w in words[1:])
    if style == "upper":
        return "_".join(words).upper()
    return {"space": " ", "dash": "-", "under": "_", "title": " "}[style].join(
        w.capitalize() if style == "title" else w for w in words
    )


@settings(max_examples=80, deadline=None)
@given(
    entry=st.sampled_from(
        [n for n in DEFAULT_SECRET_FIELDS if " " in n]
        + ["password", "pin", "token", "cvv", "iban", "ssn", "otp", "passport"]
    ),
    style=st.sampled_from(["camel", "upper", "space", "dash", "under", "title"]),
    depth=st.integers(0, 3),
    suffix=st.integers(1000, 9999),
)
def test_no_spelling_or_nesting_of_a_denied_field_reaches_the_prompt(
    entry: str, style: str, depth: int, suffix: int
) -> None:
    secret = f"zqx{suffix}"
    node: object = {_spell(entry.split(), style): secret, "plan": "pro"}
    for level in range(depth):
        node = {"level": [node]} if level % 2 else {"details": node}
    lines = "\n".join(render_user_context({"name": "Jane", "extra": node}))
    assert secret not in lines and "pro" in lines


def test_settings_choose_regions_extra_secret_names_and_are_validated() -> None:
    from supportkit.config import GuardrailsConfig
    from supportkit.errors import ConfigError
    from supportkit.privacy import Redactor

    uk_only = Redactor.from_settings(GuardrailsConfig(pii_regions=["GB"]))
    assert uk_only("call (415) 555-0132 or +1 415 555 0132") == "call (415) 555-0132 or [PHONE]"
    assert SecretsPolicy.from_settings(GuardrailsConfig(secret_fields=["loyalty word"])).is_secret_name(
        "LoyaltyWord"
    )
    with pytest.raises(ConfigError, match="pii_regions"):
        GuardrailsConfig(pii_regions=["XX"]).validate()
    with pytest.raises(ConfigError, match="secret_fields"):
        GuardrailsConfig(secret_fields="password").validate()  # type: ignore[arg-type]


def test_request_and_completion_ids_are_not_secrets() -> None:
    """Ids (dashed UUIDs, optionally prefixed) stay readable in logs; hex keys do not."""
    import uuid

    from supportkit.privacy.patterns import looks_like_token

    rid = str(uuid.uuid4())
    assert not looks_like_token(rid) and not looks_like_token(f"chatcmpl-{rid}")
    assert looks_like_token(uuid.uuid4().hex)  # 32 bare hex characters: a key or digest
    text = f"request {rid} failed; completion chatcmpl-{rid}"
    assert redact(text) == text
