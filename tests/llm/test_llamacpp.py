"""The llama.cpp provider with the real SmolLM2-135M-Instruct model."""

from __future__ import annotations

import json
import threading

import jsonschema
import pytest

from honcho_local.errors import ModelUnavailable
from honcho_local.llm.base import LLM, ChatRequest, collect_stream
from honcho_local.llm.llamacpp import LlamaCppChat, ModelTimeout

pytestmark = pytest.mark.model

HELLO = [{"role": "user", "content": "Say hello in five words."}]
FACTS_SCHEMA = {
    "type": "object",
    "properties": {
        "facts": {"type": "array", "items": {"type": "string", "maxLength": 80}, "maxItems": 3},
        "confidence": {"type": "string", "enum": ["low", "medium", "high"]},
    },
    "required": ["facts", "confidence"],
    "additionalProperties": False,
}


def test_is_an_llm(smol_chat):
    assert isinstance(smol_chat, LLM)


def test_completion_is_normalized(smol_chat):
    done = smol_chat.complete(ChatRequest(messages=HELLO, max_tokens=24))
    assert done.text.strip()
    assert done.provider == "llamacpp" and done.model == "smollm2-135m"
    assert done.finish_reason in ("stop", "length")
    assert done.prompt_tokens > 5 and 0 < done.completion_tokens <= 24
    assert done.seconds > 0 and not done.fallback_used


def test_token_counts_match_llama_cpp_itself(smol_chat):
    """Our counts equal the usage llama-cpp-python reports for the same non-streamed request."""
    raw = smol_chat.llama.create_chat_completion(messages=HELLO, max_tokens=12, temperature=0.0)
    done = smol_chat.complete(ChatRequest(messages=HELLO, max_tokens=12))
    assert (done.prompt_tokens, done.completion_tokens) == (
        raw["usage"]["prompt_tokens"], raw["usage"]["completion_tokens"])
    assert done.text == raw["choices"][0]["message"]["content"]


def test_max_tokens_gives_length(smol_chat):
    done = smol_chat.complete(ChatRequest(messages=[{"role": "user", "content": "Tell a long story."}],
                                          max_tokens=5))
    assert done.finish_reason == "length" and done.completion_tokens == 5


def test_stop_sequence(smol_chat):
    done = smol_chat.complete(ChatRequest(messages=[{"role": "user", "content": "Count from 1 to 10, one per line."}],
                                          max_tokens=60, stop=["4"]))
    assert "4" not in done.text and "5" not in done.text


def test_constrained_json_parses_and_respects_schema(smol_chat):
    request = ChatRequest(messages=[{"role": "user", "content": "Alice lives in Lisbon and has a cat named Pixel. "
                                                             "List the facts as JSON."}],
                          max_tokens=160, schema=FACTS_SCHEMA)
    done = smol_chat.complete(request)
    value = json.loads(done.text)
    jsonschema.validate(value, FACTS_SCHEMA)


def test_json_free_first_then_grammar_both_validate(smol_chat):
    """Unconstrained first (the answer is parsed, clipped and validated), the grammar when that fails:
    either way the result validates, and a fallback is counted and said in `errors`."""
    request = ChatRequest(messages=[{"role": "user", "content": "Alice lives in Lisbon. Reply with JSON only: "
                                                             '{"facts":["..."],"confidence":"high"}'}],
                          max_tokens=80, schema=FACTS_SCHEMA)
    before = dict(smol_chat.free_json_stats)
    done = smol_chat.complete(request)
    jsonschema.validate(json.loads(done.text), FACTS_SCHEMA)
    if not done.errors:  # parsed on the free path; the router parses a constrained answer
        assert done.parsed == json.loads(done.text)
    assert smol_chat.free_json_stats["tried"] == before["tried"] + 1
    failed = smol_chat.free_json_stats["failed"] - before["failed"]
    assert failed == (1 if done.errors else 0)
    smol_chat.free_json = False
    try:
        constrained = smol_chat.complete(request)
    finally:
        smol_chat.free_json = True
    jsonschema.validate(json.loads(constrained.text), FACTS_SCHEMA)
    assert not constrained.errors and smol_chat.free_json_stats["tried"] == before["tried"] + 1


def test_streaming_yields_pieces_then_usage(smol_chat):
    request = ChatRequest(messages=HELLO, max_tokens=24)
    chunks = list(smol_chat.stream(request))
    assert len(chunks) > 3
    assert all(c.finish_reason is None for c in chunks[:-1])
    folded = collect_stream(iter(chunks))
    whole = smol_chat.complete(request)
    assert folded.text == whole.text
    assert (folded.prompt_tokens, folded.completion_tokens) == (whole.prompt_tokens, whole.completion_tokens)


def test_count_tokens_uses_model_tokenizer(smol_chat):
    text = "The user moved to Lisbon last month."
    assert smol_chat.count_tokens(text) == len(smol_chat.llama.tokenize(text.encode(), add_bos=False))
    assert smol_chat.count_tokens("") == 0


def test_timeout_is_enforced(smol_chat):
    request = ChatRequest(messages=[{"role": "user", "content": "Write a very long story about a dragon."}],
                          max_tokens=2000, timeout=0.2)
    with pytest.raises(ModelTimeout) as info:
        smol_chat.complete(request)
    assert "deadline" in info.value.detail
    assert smol_chat.complete(ChatRequest(messages=HELLO, max_tokens=8)).text  # still usable afterwards


def test_concurrent_calls_are_serialized(smol_chat):
    results, errors = [], []

    def call() -> None:
        try:
            results.append(smol_chat.complete(ChatRequest(messages=HELLO, max_tokens=16)).text)
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1  # greedy decoding: same answer each time


def test_corrupt_file_fails_clearly(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelUnavailable) as info:
        LlamaCppChat(bad, "broken")
    assert str(bad) in info.value.detail and "honcho-local models verify" in info.value.detail


def test_amx_guard_loads_models_without_extra_buffers(smol_path, monkeypatch):
    """On an AMX build of llama.cpp the first prompt crashes in its AMX kernels (a general protection
    fault on a Xeon VM here), so models load without extra buffer types there, and still answer."""
    import llama_cpp.llama_cpp as low

    from honcho_local.llm import llamacpp

    factory = low.llama_model_default_params
    monkeypatch.setattr(low, "llama_model_default_params", getattr(factory, "wrapped", factory))
    monkeypatch.setattr(llamacpp, "_amx_build", lambda: True)
    llama = llamacpp.load_llama(smol_path, n_ctx=256, n_threads=1)
    assert llama.model_params.use_extra_bufts is False
    assert llamacpp.load_llama(smol_path, n_ctx=256, n_threads=1).model_params.use_extra_bufts is False
    out = llama.create_completion("Hello, my name is", max_tokens=4, temperature=0.0)
    assert out["usage"]["completion_tokens"] >= 1


def test_no_guard_where_the_build_has_no_amx(smol_path, monkeypatch):
    import llama_cpp.llama_cpp as low

    from honcho_local.llm import llamacpp

    factory = low.llama_model_default_params
    monkeypatch.setattr(low, "llama_model_default_params", getattr(factory, "wrapped", factory))
    monkeypatch.setattr(llamacpp, "_amx_build", lambda: False)
    assert llamacpp.guard_amx() is False
    llama = llamacpp.load_llama(smol_path, vocab_only=True)  # no weights computed with: safe on any build
    assert llama.model_params.use_extra_bufts is True
