"""The fake LLM and embedder other layers use in their unit tests honour the real protocols."""

from __future__ import annotations

import json

import pytest

from honcho_local.errors import ModelError
from honcho_local.llm.base import LLM, ChatRequest, Embedder, collect_stream
from honcho_local.llm.fake import FakeEmbedder, FakeLLM, minimal_instance


def test_fake_llm_scripts_answers_and_records_requests():
    fake = FakeLLM(["one", {"a": 1}, ModelError("boom")], default="again")
    assert isinstance(fake, LLM)
    assert fake.complete(ChatRequest(messages=[{"role": "user", "content": "x"}])).text == "one"
    assert json.loads(fake.complete(ChatRequest(messages=[])).text) == {"a": 1}
    with pytest.raises(ModelError):
        fake.complete(ChatRequest(messages=[]))
    assert fake.complete(ChatRequest(messages=[])).text == "again"
    assert len(fake.requests) == 4


def test_fake_llm_answers_schema_requests_with_a_valid_instance():
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string"}},
                                               "level": {"enum": ["low", "high"]}}, "required": ["items", "level"]}
    done = FakeLLM().complete(ChatRequest(messages=[], schema=schema))
    assert done.parsed == {"items": [], "level": "low"} == minimal_instance(schema)


def test_fake_llm_streams():
    folded = collect_stream(FakeLLM(["a b c"]).stream(ChatRequest(messages=[])))
    assert folded.text == "a b c" and folded.completion_tokens == 3


def test_fake_embedder_is_stable_and_normalized():
    fake = FakeEmbedder(dims=8)
    assert isinstance(fake, Embedder)
    first, second = fake.embed(["x", "x"]).vectors
    assert first == second and len(first) == 8
    assert abs(sum(v * v for v in first) - 1.0) < 1e-9


def test_fake_embedder_accepts_a_kind_and_ignores_it():
    fake = FakeEmbedder()
    assert fake.embed(["x"], kind="query").vectors == fake.embed(["x"], kind="document").vectors == fake.embed(["x"]).vectors
