"""A scripted OpenAI-compatible model server on 127.0.0.1 for worker tests: deterministic answers
derived from the prompt, with switchable faults (delay, garbage, HTTP 500) and a gate: `hold()` keeps
every request waiting until `release()`, so a test can observe "a model call is in flight" as a state
instead of a race against a delay. With `context` set it refuses, as a real server does (HTTP 400), a
request whose prompt and answer (`max_tokens`) do not fit that many tokens (`request_tokens`)."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LINE = re.compile(r"^\[(\d+)\] \S+ \S+ ([A-Za-z0-9_-]+): (.*)$")
ABOUT = re.compile(r"facts about ([A-Za-z0-9_-]+)\.")


# A chat template's tokens around each message and before the answer (ChatML: <|im_start|>role\n ...
# <|im_end|>\n, then <|im_start|>assistant\n).
TEMPLATE_PER_MESSAGE = 5
TEMPLATE_ANSWER = 3


TOO_LONG = json.dumps({"error": {"code": 400, "type": "exceed_context_size_error",
                                 "message": "the request exceeds the available context size, try increasing it"}}).encode()


def count_tokens(text: str) -> int:
    """The server's tokenizer, as the client estimates an OpenAI-compatible endpoint's
    (`OpenAICompat.count_tokens`: about four characters a token)."""
    return max(1, len(text) // 4) if text else 0


def request_tokens(payload: dict[str, Any]) -> int:
    """The tokens a chat request takes of the server's window: the templated prompt and `max_tokens`."""
    prompt = sum(count_tokens(m["content"]) + TEMPLATE_PER_MESSAGE for m in payload["messages"])
    return prompt + TEMPLATE_ANSWER + int(payload.get("max_tokens") or 0)


def facts_within(said: list[tuple[int, str]], peer: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """One fact per line the peer said, or, when the schema's caps (a constrained server keeps to them)
    allow fewer facts than lines, facts that each cite several consecutive lines; each cut to the
    schema's `maxLength`."""
    form = payload.get("response_format") or {}
    props = ((form.get("json_schema") or {}).get("schema") or form.get("schema") or {}).get("properties", {})
    facts_cap = props.get("facts", {}).get("maxItems", len(said)) or 1
    lines_cap = props.get("facts", {}).get("items", {}).get("properties", {}).get("lines", {}).get("maxItems", 1)
    fact_cap = props.get("facts", {}).get("items", {}).get("properties", {}).get("fact", {}).get("maxLength")
    size = min(lines_cap, -(-len(said) // facts_cap)) if len(said) > facts_cap else 1
    groups = [said[i:i + size] for i in range(0, len(said), size)][:facts_cap]
    return [{"fact": (f"{peer} said: " + " / ".join(text for _, text in group))[:fact_cap],
             "lines": [n for n, _ in group]} for group in groups]


class FakeModel:
    def __init__(self) -> None:
        self.mode = "ok"  # ok | garbage | error
        self.delay = 0.0
        self.gate = threading.Event()
        self.gate.set()
        self.answered = 0  # responses sent
        self.calls: list[str] = []
        self.received = 0  # requests received (counted before the delay; `calls` after it)
        self.prompts: list[str] = []
        self.poison: str | None = None  # answer garbage (JSON) or nothing (text) to prompts containing this
        self.context: int | None = None  # refuse requests that take more tokens than this (`request_tokens`)
        self.refused = 0  # requests refused for their size
        self.largest = 0  # the most tokens a request took (`request_tokens`)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def env(self) -> dict[str, str]:
        """The settings that make a server's chat model this fake (`openai:fake` at `url`)."""
        return {"HONCHO_LOCAL_REASONING_MODEL": "openai:fake", "HONCHO_LOCAL_OPENAI_BASE_URL": self.url}

    def start(self) -> FakeModel:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()

    def hold(self) -> None:
        """Requests from now on wait (after counting in `received`) until `release()`."""
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def too_long(self, payload: dict[str, Any]) -> bool:
        """Whether to refuse `payload` for its size (counted in `refused`; the largest in `largest`)."""
        tokens = request_tokens(payload)
        self.largest = max(self.largest, tokens)
        refuse = self.context is not None and tokens > self.context
        self.refused += refuse
        return refuse

    def answer(self, payload: dict[str, Any]) -> str:
        prompt = "\n".join(m["content"] for m in payload["messages"] if m["role"] == "user")
        schema = json.dumps(payload.get("response_format") or {})
        if '"facts"' in schema:
            self.calls.append("deriver")
            peer = ABOUT.search(prompt).group(1)
            said = [(int(m.group(1)), m.group(3)) for m in map(LINE.match, prompt.splitlines())
                    if m and m.group(2) == peer]
            return json.dumps({"facts": facts_within(said, peer, payload), "inferences": []})
        if '"updated"' in schema:  # a dream's knowledge-update decision: a move replaces, anything else stays
            self.calls.append("dream_update")
            newer = prompt.split("Fact 2", 1)[1].splitlines()[0]
            return json.dumps({"answer": "updated" if " moved " in newer else "both"})
        if '"pattern"' in schema:  # a dream's induction: none
            self.calls.append("dream_induction")
            return json.dumps({"pattern": "none"})
        if "In 1-3 sentences, say who" in prompt:
            self.calls.append("peer_profile")
            peer = re.search(r"What is known about ([A-Za-z0-9_-]+):", prompt).group(1)
            first = next(line[2:] for line in prompt.splitlines() if line.startswith("- "))
            return f"{first}. {peer} talks a lot."  # the second sentence no fact supports: dropped
        self.calls.append("summary")
        return f"A summary of {prompt.count(chr(10))} lines of conversation."

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                model.received += 1
                model.gate.wait()
                if model.delay:
                    time.sleep(model.delay)
                failing = model.mode == "error"
                if failing or model.too_long(payload):  # a 500, or llama.cpp server's answer to a long request
                    self.send_response(500 if failing else 400)
                    self.end_headers()
                    self.wfile.write(b'{"error": "boom"}' if failing else TOO_LONG)
                    model.answered += 1
                    return
                prompt = "\n".join(m["content"] for m in payload["messages"])
                model.prompts.append(prompt)
                poisoned = model.poison is not None and model.poison in prompt
                garbage = model.mode == "garbage" or poisoned
                # a poisoned plain-text call gets an empty answer (garbage JSON would read as text)
                text = ("" if poisoned and not payload.get("response_format") else "definitely not json {") \
                    if garbage else model.answer(payload)
                if payload.get("stream"):  # the answer as server-sent events, two pieces, then [DONE]
                    self._stream(text)
                    model.answered += 1
                    return
                body = json.dumps({"id": "x", "object": "chat.completion", "model": "fake",
                                   "choices": [{"index": 0, "finish_reason": "stop",
                                                "message": {"role": "assistant", "content": text}}],
                                   "usage": {"prompt_tokens": len(str(payload)) // 4, "completion_tokens": len(text) // 4}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())
                model.answered += 1

            def _stream(self, text: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                half = len(text) // 2
                for piece in (text[:half], text[half:]):
                    event = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        return Handler


FACT = re.compile(r"FACT-[a-z]+")


class FactEcho(FakeModel):
    """Answers a chat with the FACT-* markers its prompt holds, sorted: an answer shows what was recalled.
    Asked for a schema with a `seen` list (the suite's response_format), it answers `{"seen": [...]}`."""

    def answer(self, payload: dict) -> str:
        prompt = "\n".join(m["content"] for m in payload["messages"])
        seen = sorted(set(FACT.findall(prompt)))
        if '"seen"' in json.dumps(payload.get("response_format") or {}):
            return json.dumps({"seen": seen})
        if payload.get("response_format") or "In 1-3 sentences, say who" in prompt:
            return super().answer(payload)
        return "seen: " + " ".join(seen)
