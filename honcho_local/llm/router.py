"""Primary + fallback policy and the JSON-schema retry loop, behind the same `LLM` protocol.

The primary (normally the local llama.cpp model) is loaded lazily by a factory on first use. When it
cannot be loaded, raises a model error or timeout, or keeps returning output that does not parse or
does not match the requested schema, the fallback (an OpenAI-compatible endpoint, when configured)
answers and the `Completion` says `fallback_used=True` and lists what went wrong in `errors`. When
nothing can answer, `ModelError` carries the last raw output.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

from honcho_local.errors import HonchoLocalError, ModelError, ModelUnavailable
from honcho_local.llm.base import LLM, ChatRequest, Completion, StreamChunk
from honcho_local.llm.jsonout import parse_json_output, salvage

__all__ = ["Router", "parse_json_output"]

LLMFactory = Callable[[], LLM]


# The most of a validation error a repair turn quotes: jsonschema's messages quote the offending value
# whole (a 4,000-character fact doubled the size of the repair prompt and overflowed the window).
MAX_PROBLEM_CHARS = 300


def _repair_messages(request: ChatRequest, raw: str, problem: str) -> list[dict[str, str]]:
    if len(problem) > MAX_PROBLEM_CHARS:
        problem = problem[:MAX_PROBLEM_CHARS] + " …"
    return [
        *request.messages,
        {"role": "assistant", "content": raw},
        {"role": "user", "content": f"That output is {problem}. Reply with only the corrected JSON."},
    ]


class Router:
    """An `LLM` that answers from the primary and falls back when the primary fails."""

    provider = "router"

    def __init__(self, primary: LLMFactory | LLM | None, fallback: LLMFactory | LLM | None = None,
                 json_retries: int = 2) -> None:
        self._factories = {"primary": primary, "fallback": fallback}
        self._loaded: dict[str, LLM] = {}
        self._load_errors: dict[str, HonchoLocalError] = {}
        self._lock = threading.Lock()
        self.json_retries = json_retries

    @property
    def model(self) -> str:
        llm = self._loaded.get("primary")
        return llm.model if llm else "unloaded"

    def _get(self, role: str) -> LLM | None:
        """The loaded model for `role`, loading it on first use; a load failure is remembered."""
        with self._lock:
            if role in self._loaded:
                return self._loaded[role]
            if role in self._load_errors:
                raise self._load_errors[role]
            factory = self._factories[role]
            if factory is None:
                return None
            try:
                llm = factory() if callable(factory) and not hasattr(factory, "complete") else factory
            except HonchoLocalError as exc:
                self._load_errors[role] = exc
                raise
            self._loaded[role] = llm  # type: ignore[assignment]
            return llm  # type: ignore[return-value]

    def has_fallback(self) -> bool:
        return self._factories["fallback"] is not None

    def _attempt(self, llm: LLM, request: ChatRequest) -> Completion:
        """One model's answer; with a schema, retried with the error fed back until it validates."""
        current = request
        errors: list[str] = []
        spent = (0.0, 0, 0)  # seconds and tokens of the attempts before this one, so the result counts all
        for attempt in range(1, self.json_retries + 2):
            done = llm.complete(current)
            if request.schema is None:
                return replace(done, attempts=attempt)
            done = replace(done, seconds=done.seconds + spent[0], prompt_tokens=done.prompt_tokens + spent[1],
                           completion_tokens=done.completion_tokens + spent[2])
            spent = (done.seconds, done.prompt_tokens, done.completion_tokens)
            try:
                parsed = parse_json_output(done.text, request.schema)
            except ValueError as exc:
                if done.finish_reason == "length":  # cut off by max_tokens: keep what it finished
                    try:
                        text, parsed = salvage(done.text, request.schema)
                    except ValueError:
                        pass
                    else:
                        note = f"{llm.provider}/{llm.model} attempt {attempt}: cut off at max_tokens ({exc}); " \
                               "kept the complete part"
                        return replace(done, text=text, parsed=parsed, attempts=attempt,
                                       errors=done.errors + tuple(errors) + (note,))
                errors.append(f"{llm.provider}/{llm.model} attempt {attempt}: {exc}")
                last_raw = done.text
                current = request.with_messages(_repair_messages(request, done.text, str(exc)))
                continue
            return replace(done, parsed=parsed, attempts=attempt, errors=done.errors + tuple(errors))
        raise ModelError(f"{llm.provider}/{llm.model} output unusable after {self.json_retries + 1} attempts: "
                         f"{errors[-1]}", raw_output=last_raw)

    def complete(self, request: ChatRequest) -> Completion:
        errors: list[str] = []
        raw: str | None = None
        for role in ("primary", "fallback"):
            try:
                llm = self._get(role)
                if llm is None:
                    continue
                done = self._attempt(llm, request)
            except HonchoLocalError as exc:  # load errors (missing/corrupt/unknown model), timeouts, bad output
                errors.append(f"{role}: {exc.detail}")
                raw = getattr(exc, "raw_output", None) or raw
                continue
            return replace(done, fallback_used=role == "fallback", errors=tuple(errors) + done.errors)
        if not errors:
            raise ModelUnavailable("no chat model is configured")
        raise ModelError("; ".join(errors), raw_output=raw)

    def stream(self, request: ChatRequest) -> Iterator[StreamChunk]:
        """Stream from the primary; if it fails before its first chunk, stream from the fallback."""
        errors: list[str] = []
        for role in ("primary", "fallback"):
            started = False
            try:
                llm = self._get(role)
                if llm is None:
                    continue
                for chunk in llm.stream(request):
                    started = True
                    yield replace(chunk, fallback_used=role == "fallback")
                return
            except HonchoLocalError as exc:
                if started:
                    raise
                errors.append(f"{role}: {exc.detail}")
        raise ModelError("; ".join(errors) or "no chat model is configured")

    def count_tokens(self, text: str) -> int:
        try:
            llm = self._get("primary")
        except HonchoLocalError:
            llm = None
        llm = llm or self._get("fallback")
        if llm is None:
            raise ModelUnavailable("no chat model is configured")
        return llm.count_tokens(text)

    def close(self) -> None:
        for llm in self._loaded.values():
            llm.close()
        self._loaded.clear()
