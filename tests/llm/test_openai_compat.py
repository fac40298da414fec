"""The OpenAI-compatible provider: against a real llama_cpp.server on 127.0.0.1, and a scripted server."""

from __future__ import annotations

import json

import jsonschema
import pytest

from honcho_local.errors import ModelError, ModelUnavailable
from honcho_local.llm.base import ChatRequest, collect_stream
from honcho_local.llm.openai_compat import OpenAICompat, retry_after_seconds

from .conftest import NO_DEADLINE, chat_body

HELLO = [{"role": "user", "content": "Say hello."}]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40}},
          "required": ["city"], "additionalProperties": False}


# -- against the real llama-cpp-python server ---------------------------------------------------------


@pytest.mark.model
@pytest.mark.slow
def test_real_server_completion(llama_server):
    client = OpenAICompat(llama_server, "smollm2-135m", timeout=NO_DEADLINE)
    done = client.complete(ChatRequest(messages=HELLO, max_tokens=16))
    assert done.text and done.provider == "openai" and done.prompt_tokens > 0 and done.completion_tokens > 0
    client.close()


@pytest.mark.model
@pytest.mark.slow
def test_real_server_schema_output(llama_server):
    client = OpenAICompat(llama_server, "smollm2-135m", timeout=NO_DEADLINE)
    done = client.complete(ChatRequest(messages=[{"role": "user", "content": "Alice lives in Lisbon. "
                                                  "Which city? Answer as JSON."}], max_tokens=60, schema=SCHEMA))
    jsonschema.validate(json.loads(done.text), SCHEMA)
    assert client.schema_style == "json_object"  # llama-cpp-python's server refuses OpenAI's json_schema form
    client.close()


@pytest.mark.model
@pytest.mark.slow
def test_real_server_streaming(llama_server):
    client = OpenAICompat(llama_server, "smollm2-135m", timeout=NO_DEADLINE)
    chunks = list(client.stream(ChatRequest(messages=HELLO, max_tokens=16)))
    assert len(chunks) > 2 and chunks[-1].finish_reason in ("stop", "length")
    folded = collect_stream(iter(chunks))
    assert folded.text.strip() and folded.completion_tokens > 0
    client.close()


# -- retries, backoff and error mapping against a scripted server ------------------------------------------


def _client(server, sleeps, **kw):
    return OpenAICompat(server.base_url, "m", api_key="k", timeout=kw.pop("timeout", 5), sleep=sleeps.append, **kw)


def test_retry_after_is_honoured_on_429(scripted_server):
    scripted_server.script = [(429, {"Retry-After": "2"}, b"slow down", 0), (200, {}, chat_body("hi"), 0)]
    sleeps: list[float] = []
    done = _client(scripted_server, sleeps).complete(ChatRequest(messages=HELLO))
    assert done.text == "hi" and sleeps == [2.0] and len(scripted_server.requests) == 2
    assert scripted_server.requests[0]["path"] == "/v1/chat/completions"


def test_backoff_grows_on_5xx(scripted_server):
    scripted_server.script = [(500, {}, b"", 0), (502, {}, b"", 0), (503, {}, b"", 0), (200, {}, chat_body("ok"), 0)]
    sleeps: list[float] = []
    done = _client(scripted_server, sleeps, backoff=0.1).complete(ChatRequest(messages=HELLO))
    assert done.text == "ok" and sleeps == [0.1, 0.2, 0.4]


def test_retries_exhausted_is_unavailable(scripted_server):
    scripted_server.script = [(500, {}, b"boom", 0)] * 3
    sleeps: list[float] = []
    with pytest.raises(ModelUnavailable) as info:
        _client(scripted_server, sleeps, max_retries=2).complete(ChatRequest(messages=HELLO))
    assert "3 attempts" in info.value.detail and "HTTP 500" in info.value.detail


def test_client_errors_are_not_retried(scripted_server):
    scripted_server.script = [(401, {}, b'{"error": "bad key"}', 0)]
    sleeps: list[float] = []
    with pytest.raises(ModelUnavailable) as info:
        _client(scripted_server, sleeps).complete(ChatRequest(messages=HELLO))
    assert "401" in info.value.detail and sleeps == [] and len(scripted_server.requests) == 1


def test_garbage_body_is_a_model_error_with_raw_output(scripted_server):
    scripted_server.script = [(200, {"content-type": "application/json"}, b"<html>not json</html>", 0)]
    with pytest.raises(ModelError) as info:
        _client(scripted_server, []).complete(ChatRequest(messages=HELLO))
    assert info.value.raw_output == "<html>not json</html>"


def test_json_without_choices_is_a_model_error(scripted_server):
    scripted_server.script = [(200, {}, b'{"unexpected": true}', 0)]
    with pytest.raises(ModelError):
        _client(scripted_server, []).complete(ChatRequest(messages=HELLO))


def test_timeout_is_enforced(scripted_server):
    scripted_server.script = [(200, {}, chat_body("late"), 2.0)]
    sleeps: list[float] = []
    with pytest.raises(ModelUnavailable) as info:
        _client(scripted_server, sleeps, max_retries=0).complete(ChatRequest(messages=HELLO, timeout=0.3))
    assert "timed out" in info.value.detail


def test_schema_is_passed_through_as_response_format(scripted_server):
    scripted_server.script = [(200, {}, chat_body('{"city": "Lisbon"}'), 0)]
    _client(scripted_server, []).complete(ChatRequest(messages=HELLO, schema=SCHEMA, max_tokens=7, stop=["\n"]))
    sent = json.loads(scripted_server.requests[0]["body"])
    assert sent["response_format"]["json_schema"]["schema"] == SCHEMA
    assert sent["max_tokens"] == 7 and sent["stop"] == ["\n"] and sent["model"] == "m"


def test_stream_reads_server_sent_events(scripted_server):
    events = [{"choices": [{"delta": {"content": "Hel"}, "finish_reason": None}]},
              {"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]},
              {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}}]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    scripted_server.script = [(200, {"content-type": "text/event-stream"}, body.encode(), 0)]
    folded = collect_stream(_client(scripted_server, []).stream(ChatRequest(messages=HELLO)))
    assert (folded.text, folded.prompt_tokens, folded.completion_tokens, folded.finish_reason) == ("Hello", 4, 2, "stop")


def test_embeddings_endpoint(scripted_server):
    body = {"data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}],
            "usage": {"prompt_tokens": 3}}
    scripted_server.script = [(200, {}, json.dumps(body).encode(), 0)]
    result = _client(scripted_server, []).embed(["a", "b"])
    assert result.vectors == [[1.0, 0.0], [0.0, 1.0]] and result.dims == 2


def test_retry_after_parsing():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
