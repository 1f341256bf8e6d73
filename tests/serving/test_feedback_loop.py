"""The whole learning-from-feedback loop on a real server (tiny model): chat -> feedback -> export ->
one DPO step -> the new adapter loaded by the admin route -> an answer from it by ``model`` name."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import openai

from supportkit.config import Config
from tests.serving.conftest import ServerThread


def test_chat_feedback_export_dpo_load_and_answer(
    start_server: Callable[..., ServerThread], tiny_model_dir: Path, tmp_path: Path
) -> None:
    from supportkit.recipes.finetune import finetune

    server = start_server("serving.allow_adapter_loading=true")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=60)
    first = client.chat.completions.create(
        model="shipping",
        messages=[{"role": "user", "content": "Hi, I ordered a lamp."}],
        max_tokens=4,
        extra_body={"conversation_id": "loop-1"},
    )
    reply = client.chat.completions.create(
        model="shipping",
        messages=[{"role": "user", "content": "Where is order BC-11246? Mail me at jo@example.com"}],
        max_tokens=4,
        extra_body={"conversation_id": "loop-1"},
    )
    correction = "Open Account > Orders, find order BC-11246 and choose Track package."
    rated = httpx.post(
        f"{server.url}/v1/feedback",
        json={"response_id": reply.id, "rating": "down", "correction": correction},
    )
    assert rated.status_code == 200
    httpx.post(f"{server.url}/v1/feedback", json={"response_id": first.id, "rating": "up"})

    exported = httpx.get(f"{server.url}/v1/feedback/export", params={"format": "dpo"})
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in exported.text.splitlines()]
    assert reply.choices[0].message.content and first.choices[0].message.content
    assert len(rows) == 1  # only the answer rated down with a correction makes a pair
    row = rows[0]
    assert row["chosen"] == [{"role": "assistant", "content": correction}]
    assert row["rejected"] == [{"role": "assistant", "content": reply.choices[0].message.content}]
    # what the model saw: the earlier turns of the conversation, then the question (PII redacted)
    assert [t["role"] for t in row["prompt"]] == ["user", "assistant", "user"]
    assert row["prompt"][-1]["content"] == "Where is order BC-11246? Mail me at [EMAIL]"
    assert "jo@example.com" not in exported.text
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text(exported.text, encoding="utf-8")

    out = tmp_path / "dpo"
    config = Config().with_overrides(
        [
            f"model.name_or_path={tiny_model_dir}",
            "training.objective=dpo",
            f"training.init_adapter={server.app.state.supportkit.adapters['shipping']}",
            f"data.train_file={prefs}",
            "training.max_steps=1",
            "training.batch_size=1",
            "training.learning_rate=0.05",
            f"training.output_dir={out}",
        ]
    )
    result = finetune(config)
    assert result.summary.steps == 1 and result.adapter is not None

    loaded = httpx.post(
        f"{server.url}/v1/load_lora_adapter", json={"lora_name": "learned", "lora_path": str(result.adapter)}
    )
    assert loaded.status_code == 200, loaded.text
    assert "learned" in {m.id for m in client.models.list()}

    def answer(model: str) -> str:
        got = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Where is my order?"}],
            max_tokens=6,
            temperature=0,
        )
        assert got.model_extra["supportkit"]["adapter"] == model  # type: ignore[index]
        return got.choices[0].message.content or ""

    assert answer("learned") != answer("shipping")  # the DPO step changed the adapter it started from


def test_the_export_route_is_for_admin_keys_and_checks_its_format(
    start_server: Callable[..., ServerThread],
) -> None:
    server = start_server(keys="k-admin:admin,k-web:chat")

    def get(key: str | None, fmt: str = "kto") -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.get(f"{server.url}/v1/feedback/export", params={"format": fmt}, headers=headers)

    assert get(None).status_code == 401
    assert get("k-web").status_code == 403
    ok = get("k-admin")
    assert ok.status_code == 200 and ok.text == ""  # nothing rated yet
    assert 'filename="feedback-kto.jsonl"' in ok.headers["content-disposition"]
    bad = get("k-admin", "ppo")
    assert bad.status_code == 400 and "format" in bad.text
