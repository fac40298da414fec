"""Token counting without the chat model (issue 31 item 7): counting loads the model's vocabulary
alone (`vocab_only`), never the weights, and counts exactly as the loaded model does; a server with
reasoning disabled answers a context read without loading the chat model."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from conftest import READ_SERVER_ENV, start_server, stop_server

TEXT = "Hello there, friend! The quick brown fox jumps over 13 lazy dogs; naïve café, 東京. ok?"


@pytest.fixture
def settings(tmp_path: Path):
    from honcho_local.config import load_settings
    from honcho_local.llm.catalog import find_spec, models_dir
    from honcho_local.llm.fetch import ensure_model

    settings = load_settings(home=tmp_path / "home", env={}, reasoning_model="smollm2-135m", model_context=2048)
    ensure_model(find_spec("smollm2-135m", models_dir(settings)), models_dir(settings))
    return settings


def test_counting_uses_the_vocabulary_not_the_model(settings) -> None:
    from honcho_local.llm import build_local_chat
    from honcho_local.wiring import LazyLLM, Models

    models = Models(settings)
    try:
        counts = [LazyLLM(models).count_tokens(t) for t in (TEXT, "", "a" * 500)]
        state = models.state()
        assert state["chat"]["loaded"] is False
        assert state["tokenizer"]["loaded"] is True
        chat = build_local_chat(settings)  # the whole model: the counts are its tokenizer's
        try:
            assert counts == [chat.count_tokens(t) for t in (TEXT, "", "a" * 500)]
            assert counts[0] > 0
        finally:
            chat.close()
        models.llm()  # once the model is loaded for a call, it counts
        assert models.count_tokens(TEXT) == counts[0]
    finally:
        models.close()


def test_a_server_without_reasoning_reads_context_without_the_chat_model(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", env={**READ_SERVER_ENV, "HONCHO_LOCAL_REASONING_ENABLED": "false",
                                                  "HONCHO_LOCAL_SUMMARY_ENABLED": "false"}, timeout=120)
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            posted = client.post("/v3/workspaces/w/sessions/s/messages", json={"messages": [
                {"peer_id": "u", "content": TEXT}, {"peer_id": "a", "content": "noted"}]})
            assert posted.status_code == 201
            for params in ({"tokens": 500}, {"tokens": 500, "peer_target": "u"}):
                context = client.get("/v3/workspaces/w/sessions/s/context", params=params)
                assert context.status_code == 200, context.text
                assert [m["content"] for m in context.json()["messages"]] == [TEXT, "noted"]
            models = client.get("/status").json()["models"]
            assert models["chat"]["loaded"] is False, models
    finally:
        stop_server(server)
