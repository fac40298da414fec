"""Deterministic, scriptable stand-ins for `LLM` and `Embedder`, for unit tests of other layers.

`FakeLLM(["first reply", {"json": "reply"}, ModelError("boom")])` answers the scripted items in
order (dicts/lists are JSON-encoded; exceptions are raised), then repeats `default`. When no script
is given, a schema request gets a minimal JSON instance of the schema. Every request is recorded in
`.requests`. `FakeEmbedder` maps text to a stable unit vector derived from its sha256.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from honcho_local.llm.base import ChatRequest, Completion, Embeddings, JsonSchema, StreamChunk


def minimal_instance(schema: JsonSchema) -> Any:
    """The smallest value that satisfies a simple JSON schema (object/array/string/number/bool/enum)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: minimal_instance(props[k]) for k in schema.get("required", list(props))}
    if kind == "array":
        return [minimal_instance(schema.get("items", {}))] * int(schema.get("minItems", 0))
    return {"string": "", "integer": 0, "number": 0.0, "boolean": False, "null": None}.get(kind)


class FakeLLM:
    """Scripted chat model implementing the `LLM` protocol."""

    def __init__(self, script: Iterable[Any] = (), default: str = "ok", provider: str = "fake",
                 model: str = "fake-model") -> None:
        self.provider = provider
        self.model = model
        self.default = default
        self._script = list(script)
        self.requests: list[ChatRequest] = []
        self.closed = False

    def _next_text(self, request: ChatRequest) -> str:
        if self._script:
            item = self._script.pop(0)
            if isinstance(item, BaseException):
                raise item
            return item if isinstance(item, str) else json.dumps(item)
        if request.schema is not None:
            return json.dumps(minimal_instance(request.schema))
        return self.default

    def complete(self, request: ChatRequest) -> Completion:
        self.requests.append(request)
        text = self._next_text(request)
        prompt = sum(self.count_tokens(m.get("content", "")) for m in request.messages)
        finish = "stop"
        words = text.split(" ")
        if len(words) > request.max_tokens:  # like a real model, cut off at the token limit
            text, finish = " ".join(words[:request.max_tokens]), "length"
        parsed = json.loads(text) if request.schema is not None and _is_json(text) else None
        return Completion(text=text, prompt_tokens=prompt, completion_tokens=self.count_tokens(text),
                          finish_reason=finish, provider=self.provider, model=self.model, parsed=parsed)

    def stream(self, request: ChatRequest) -> Iterator[StreamChunk]:
        done = self.complete(request)
        words = done.text.split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            yield StreamChunk(
                text=word if last else word + " ", provider=self.provider, model=self.model,
                finish_reason=done.finish_reason if last else None,
                prompt_tokens=done.prompt_tokens if last else None,
                completion_tokens=done.completion_tokens if last else None,
            )

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def close(self) -> None:
        self.closed = True


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


class FakeEmbedder:
    """Stable pseudo-embeddings (unit vectors) implementing the `Embedder` protocol."""

    def __init__(self, dims: int = 384, provider: str = "fake", model: str = "fake-embedder") -> None:
        self.provider = provider
        self.model = model
        self.dims = dims

    def _vector(self, text: str) -> list[float]:
        raw: list[float] = []
        counter = 0
        while len(raw) < self.dims:
            digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
            raw.extend((b - 127.5) / 127.5 for b in digest)
            counter += 1
        raw = raw[: self.dims]
        norm = math.sqrt(sum(x * x for x in raw)) or 1.0
        return [x / norm for x in raw]

    def embed(self, texts: Sequence[str], kind: str = "document") -> Embeddings:  # kind: no prefixes here
        vectors = [self._vector(t) for t in texts]
        tokens = sum(self.count_tokens(t) for t in texts)
        return Embeddings(vectors=vectors, dims=self.dims, prompt_tokens=tokens,
                          provider=self.provider, model=self.model)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def close(self) -> None:
        return None
