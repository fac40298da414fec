"""A scripted OpenAI-compatible model server on 127.0.0.1 for worker tests: deterministic answers
derived from the prompt, with switchable faults (delay, garbage, HTTP 500) and a gate: `hold()` keeps
every request waiting until `release()`, so a test can observe "a model call is in flight" as a state
instead of a race against a delay."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LINE = re.compile(r"^\[(\d+)\] \S+ \S+ ([A-Za-z0-9_-]+): (.*)$")
ABOUT = re.compile(r"facts about ([A-Za-z0-9_-]+)\.")


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
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

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

    def answer(self, payload: dict[str, Any]) -> str:
        prompt = "\n".join(m["content"] for m in payload["messages"] if m["role"] == "user")
        schema = json.dumps(payload.get("response_format") or {})
        if '"facts"' in schema:
            self.calls.append("deriver")
            peer = ABOUT.search(prompt).group(1)
            facts = []
            for line in prompt.splitlines():
                m = LINE.match(line)
                if m and m.group(2) == peer:
                    facts.append({"fact": f"{peer} said: {m.group(3)}", "lines": [int(m.group(1))]})
            return json.dumps({"facts": facts, "inferences": []})
        if "In 1-3 sentences, say who" in prompt:
            self.calls.append("peer_profile")
            peer = re.search(r"What is known about ([A-Za-z0-9_-]+):", prompt).group(1)
            return f"{peer} talks a lot."
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
                if model.mode == "error":
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b'{"error": "boom"}')
                    model.answered += 1
                    return
                prompt = "\n".join(m["content"] for m in payload["messages"])
                model.prompts.append(prompt)
                poisoned = model.poison is not None and model.poison in prompt
                garbage = model.mode == "garbage" or poisoned
                # a poisoned plain-text call gets an empty answer (garbage JSON would read as text)
                text = ("" if poisoned and not payload.get("response_format") else "definitely not json {") \
                    if garbage else model.answer(payload)
                body = json.dumps({"id": "x", "object": "chat.completion", "model": "fake",
                                   "choices": [{"index": 0, "finish_reason": "stop",
                                                "message": {"role": "assistant", "content": text}}],
                                   "usage": {"prompt_tokens": len(str(payload)) // 4, "completion_tokens": len(text) // 4}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())
                model.answered += 1

        return Handler
