"""Fallback policy and the JSON retry loop, with the scriptable fake LLM (no model needed)."""

from __future__ import annotations

import json

import pytest

from honcho_local.errors import ModelError, ModelUnavailable
from honcho_local.llm.base import LLM, ChatRequest, collect_stream
from honcho_local.llm.fake import FakeLLM
from honcho_local.llm.llamacpp import ModelTimeout
from honcho_local.llm.router import Router, parse_json_output

SCHEMA = {"type": "object", "properties": {"facts": {"type": "array", "items": {"type": "string"}, "maxItems": 2}},
          "required": ["facts"]}
ASK = ChatRequest(messages=[{"role": "user", "content": "facts?"}], schema=SCHEMA)


def _fail_to_load() -> LLM:
    raise ModelUnavailable("model file /x.gguf is missing; run `honcho-local models pull x`")


def test_router_is_an_llm():
    assert isinstance(Router(FakeLLM()), LLM)


def test_primary_answers_when_healthy():
    done = Router(FakeLLM(["hello"]), FakeLLM(["fallback"], provider="openai")).complete(ChatRequest(messages=[]))
    assert done.text == "hello" and not done.fallback_used and done.provider == "fake"


def test_load_error_falls_back_and_says_so():
    router = Router(_fail_to_load, FakeLLM(["from fallback"], provider="openai"))
    done = router.complete(ChatRequest(messages=[]))
    assert done.text == "from fallback" and done.fallback_used and done.provider == "openai"
    assert "missing" in done.errors[0]


def test_load_error_without_fallback_is_raised():
    with pytest.raises(ModelError) as info:
        Router(_fail_to_load).complete(ChatRequest(messages=[]))
    assert "models pull" in info.value.detail


def test_timeout_falls_back():
    primary = FakeLLM([ModelTimeout("ran past its 1s deadline")])
    done = Router(primary, FakeLLM(["late but here"], provider="openai")).complete(ChatRequest(messages=[]))
    assert done.fallback_used and "deadline" in done.errors[0]


def test_invalid_json_is_retried_with_the_error_fed_back():
    primary = FakeLLM(["not json", {"facts": ["a", "b", "c"]}, {"facts": ["a"]}])
    done = Router(primary).complete(ASK)
    assert done.parsed == {"facts": ["a"]} and done.attempts == 3 and not done.fallback_used
    repair = primary.requests[1].messages
    assert repair[-2] == {"role": "assistant", "content": "not json"} and "not valid JSON" in repair[-1]["content"]
    assert "schema" in primary.requests[2].messages[-1]["content"]


def test_unparseable_after_retries_goes_to_fallback():
    primary = FakeLLM(["nope"] * 3)
    done = Router(primary, FakeLLM([{"facts": []}], provider="openai")).complete(ASK)
    assert done.fallback_used and done.parsed == {"facts": []} and len(primary.requests) == 3


def test_unparseable_everywhere_raises_with_raw_output():
    with pytest.raises(ModelError) as info:
        Router(FakeLLM(["{broken"] * 3), json_retries=2).complete(ASK)
    assert info.value.raw_output == "{broken"


def test_stream_falls_back_before_first_chunk():
    router = Router(_fail_to_load, FakeLLM(["two words"], provider="openai"))
    chunks = list(router.stream(ChatRequest(messages=[])))
    assert collect_stream(iter(chunks)).text == "two words" and all(c.fallback_used for c in chunks)


def test_count_tokens_and_close():
    primary = FakeLLM()
    router = Router(primary)
    assert router.count_tokens("one two three") == 3
    router.close()
    assert primary.closed


def test_parse_json_output_reports_why():
    assert parse_json_output('{"facts": []}', SCHEMA) == {"facts": []}
    with pytest.raises(ValueError, match="schema"):
        parse_json_output('{"facts": [1]}', SCHEMA)


def test_unknown_primary_model_falls_back():
    from honcho_local.errors import NotFound

    def unknown() -> LLM:
        raise NotFound("unknown model 'qwen9'")

    done = Router(unknown, FakeLLM(["ok"], provider="openai")).complete(ChatRequest(messages=[]))
    assert done.fallback_used and "unknown model" in done.errors[0]


def test_fallback_configuration_rule(tmp_path):
    from honcho_local.config import load_settings
    from honcho_local.llm import build_llm, fallback_configured

    plain = load_settings(home=tmp_path, env={})
    assert not fallback_configured(plain) and not build_llm(plain).has_fallback()
    for key in ("openai_api_key", "openai_base_url", "fallback_model"):
        configured = load_settings(home=tmp_path, env={}, **{key: "x" if key != "openai_base_url" else "http://h/v1"})
        assert fallback_configured(configured) and build_llm(configured).has_fallback()


def test_importing_the_layer_loads_no_model_runtime():
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[2])
    code = "import sys, honcho_local.llm; assert 'llama_cpp' not in sys.modules and 'torch' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": repo}
    assert subprocess.run([sys.executable, "-c", code], env=env, cwd=repo).returncode == 0


def test_extract_json_from_free_text():
    from honcho_local.llm.jsonout import extract_json

    schema = {"type": "object", "properties": {"facts": {"type": "array", "maxItems": 2,
              "items": {"type": "string", "maxLength": 5}}}, "required": ["facts"]}
    text, value = extract_json('Sure!\n```json\n{"facts": ["abcdefgh", "b", "c"]}\n```\nDone.', schema)
    assert value == {"facts": ["abcde", "b"]} and json.loads(text) == value  # clipped to the caps
    assert extract_json('{"facts": []}', schema)[1] == {"facts": []}
    for bad in ('no json here', '{"facts": [1]}', '{"facts": ["a"', '{"other": 1}'):
        with pytest.raises(ValueError):
            extract_json(bad, schema)


FACTS = {"type": "object", "required": ["facts", "inferences"], "properties": {
    "facts": {"type": "array", "maxItems": 3, "items": {"type": "object", "required": ["fact", "lines"], "properties": {
        "fact": {"type": "string"}, "lines": {"type": "array", "items": {"type": "integer"}}}}},
    "inferences": {"type": "array", "items": {"type": "string"}}}}


def test_salvage_keeps_the_complete_items_of_a_cut_answer():
    from honcho_local.llm.jsonout import salvage

    cut = '{"facts":[{"fact":"Ann runs","lines":[1]},{"fact":"Ann sw'
    text, value = salvage(cut, FACTS)
    assert value == {"facts": [{"fact": "Ann runs", "lines": [1]}], "inferences": []} and json.loads(text) == value
    # a fact whose text is complete but whose object is not closed still counts; braces inside strings do not
    assert salvage('{"facts":[{"fact":"a } ] b","lines":[2]', FACTS)[1]["facts"] == [{"fact": "a } ] b", "lines": [2]}]
    # more items than the cap: clipped, as a grammar would have
    many = '{"facts":[' + ",".join(f'{{"fact":"f{i}","lines":[{i}]}}' for i in range(5)) + ',{"fact":"'
    assert [f["fact"] for f in salvage(many, FACTS)[1]["facts"]] == ["f0", "f1", "f2"]
    for bad in ('{"facts":[{"fact":"Ann sw', '{"facts":[{"lines":[1]', "no json", '{"facts":[{"fact":1,"lines":[]}'):
        with pytest.raises(ValueError):
            salvage(bad, FACTS)


def test_router_keeps_the_complete_part_of_an_answer_cut_off_at_max_tokens():
    long = {"facts": [{"fact": f"fact number {i} about Ann", "lines": [i]} for i in range(1, 4)], "inferences": []}
    ask = ChatRequest(messages=[{"role": "user", "content": "facts?"}], schema=FACTS, max_tokens=12)
    primary = FakeLLM([long])
    done = Router(primary).complete(ask)
    assert done.finish_reason == "length" and done.attempts == 1 and len(primary.requests) == 1
    assert done.parsed == {"facts": [long["facts"][0]], "inferences": []}
    assert "cut off at max_tokens" in done.errors[-1]


def test_a_cut_answer_with_nothing_complete_is_retried():
    ask = ChatRequest(messages=[{"role": "user", "content": "facts?"}], schema=FACTS, max_tokens=4)
    primary = FakeLLM(['{"facts": [{"fact": "a very long first fact"', {"facts": [], "inferences": []}])
    done = Router(primary).complete(ask)
    assert done.parsed == {"facts": [], "inferences": []} and done.attempts == 2
