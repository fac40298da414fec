"""`build_llm` / `build_embedder` from settings: the real local model, and fallback to a real server."""

from __future__ import annotations

import pytest

from honcho_local.errors import ModelError
from honcho_local.llm import build_embedder, build_llm
from honcho_local.llm.base import ChatRequest

pytestmark = pytest.mark.model

HELLO = ChatRequest(messages=[{"role": "user", "content": "Say hello."}], max_tokens=12)


def test_build_llm_loads_the_configured_local_model_lazily(settings, smol_path):
    llm = build_llm(settings)
    assert llm.model == "unloaded"
    done = llm.complete(HELLO)
    assert done.provider == "llamacpp" and done.model == "smollm2-135m" and not done.fallback_used
    assert llm.count_tokens("hello world") > 0
    llm.close()


def test_build_embedder(settings, minilm_path):
    embedder = build_embedder(settings)
    assert embedder.dims == 384 and len(embedder.embed(["hi"]).vectors[0]) == 384
    embedder.close()


def test_missing_local_model_without_fallback_names_the_fix(settings, tmp_path):
    llm = build_llm(settings.model_copy(update={"models_dir": tmp_path / "empty"}))
    with pytest.raises(ModelError) as info:
        llm.complete(HELLO)
    assert "honcho-local models pull smollm2-135m" in info.value.detail


@pytest.mark.slow
def test_missing_local_model_falls_back_to_the_openai_compatible_server(settings, tmp_path, llama_server):
    broken = settings.model_copy(update={"models_dir": tmp_path / "empty", "openai_base_url": llama_server,
                                         "fallback_model": "smollm2-135m"})
    done = build_llm(broken).complete(HELLO)
    assert done.fallback_used and done.provider == "openai" and done.text
    assert "missing" in done.errors[0]


@pytest.mark.slow
def test_openai_prefix_makes_the_endpoint_primary(settings, llama_server):
    remote = settings.model_copy(update={"reasoning_model": "openai:smollm2-135m", "openai_base_url": llama_server})
    done = build_llm(remote).complete(HELLO)
    assert done.provider == "openai" and not done.fallback_used


def test_router_over_the_real_model_returns_parsed_json(settings, smol_path):
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40}},
              "required": ["city"], "additionalProperties": False}
    llm = build_llm(settings)
    done = llm.complete(ChatRequest(messages=[{"role": "user", "content": "Alice lives in Lisbon. Which city? JSON."}],
                                    max_tokens=40, schema=schema))
    assert isinstance(done.parsed, dict) and set(done.parsed) == {"city"} and done.attempts == 1
    llm.close()
