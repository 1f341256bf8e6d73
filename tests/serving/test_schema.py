"""schemathesis against the served OpenAPI schema: no 5xx, every response matches its schema.

Operations are walked explicitly (schemathesis' pytest plugin does not run on this pytest version).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.serving.conftest import ServerThread

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


def test_every_route_answers_within_its_schema(start_server: Callable[..., ServerThread]) -> None:
    server = start_server(
        "generation.max_new_tokens=2",
        "serving.max_tokens_cap=3",
        "serving.max_messages=3",
        "serving.max_message_chars=300",
        "serving.allow_adapter_loading=true",
    )
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 12
    base = server.app.state.supportkit.base_id

    def served_model(case: Any) -> Any:
        """Make 3 in 4 chat cases name a served model and end with a question, the rest fuzzed as is."""
        body = case.body
        if isinstance(body, dict) and "model" in body and hash(repr(body)) % 4:
            body["model"] = base
            messages = body.get("messages")
            if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
                messages[-1].update(role="user", content="Where is my order?")
        return case

    for operation in operations:

        @given(case=operation.as_strategy().map(served_model))
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case: Any) -> None:
            case.call_and_validate(checks=CHECKS, timeout=60)

        check()
    # the walk really exercised the chat route, with valid and invalid bodies
    registry = server.app.state.supportkit.metrics.registry
    seen = {
        (sample.labels["status"], sample.labels["adapter"]): sample.value
        for metric in registry.collect()
        if metric.name == "supportkit_http_requests"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["route"] == "/v1/chat/completions"
    }
    assert seen.get(("200", base), 0) >= 1 and seen.get(("400", base), 0) >= 1, seen
