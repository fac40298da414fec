"""OpenAI-compatible provider over httpx: OpenAI, llama.cpp server, vLLM, Ollama, LM Studio.

Timeouts per call; retries with exponential backoff on 429 and 5xx (and on connection errors),
honouring `Retry-After`; `response_format` with the JSON schema is passed through, in OpenAI's
`json_schema` form, or in llama-cpp-python's `{"type": "json_object", "schema": ...}` form for servers
that refuse the former naming `response_format` (the switch is remembered). Errors map to `ModelUnavailable`
(cannot reach / refused / exhausted retries) or `ModelError` (a body that is not the expected JSON).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from honcho_local.errors import ModelError, ModelUnavailable
from honcho_local.llm.base import ChatRequest, Completion, Embeddings, StreamChunk

PROVIDER = "openai"
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
SCHEMA_STYLES = ("json_schema", "json_object")


class RequestRefused(ModelUnavailable):
    """The endpoint answered with a status that retrying will not change (4xx other than 408/409/429)."""

    def __init__(self, detail: str, status: int) -> None:
        super().__init__(detail)
        self.status = status


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (now if now is not None else time.time()))


def _rejects_response_format(payload: dict, body: str) -> bool:
    """A server that validates requests strictly (llama-cpp-python's returns 500) names the field."""
    return "response_format" in payload and "response_format" in body


def _error_text(resp: httpx.Response) -> str:
    try:
        body = resp.read().decode("utf-8", "replace")
    except httpx.HTTPError:
        body = ""
    return body[:600]


class OpenAICompat:
    """Chat and embeddings against `<base_url>/chat/completions` and `<base_url>/embeddings`."""

    provider = PROVIDER

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 120.0,
                 max_retries: int = 3, backoff: float = 0.5, max_backoff: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, client: httpx.Client | None = None) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self.dims = 0
        self.schema_style = "json_schema"

    # -- transport -------------------------------------------------------------------------------
    def _delay(self, attempt: int, resp: httpx.Response | None) -> float:
        hinted = retry_after_seconds(resp.headers.get("retry-after")) if resp is not None else None
        if hinted is not None:
            return min(hinted, self.max_backoff)
        return min(self.backoff * (2 ** attempt), self.max_backoff)

    def _send(self, path: str, payload: dict, timeout: float | None, stream: bool = False) -> httpx.Response:
        """POST with retries; returns a 2xx response (streamed responses are left open)."""
        last = ""
        for attempt in range(self.max_retries + 1):
            resp: httpx.Response | None = None
            try:
                req = self.client.build_request("POST", path, json=payload, timeout=timeout or self.timeout)
                resp = self.client.send(req, stream=stream)
            except httpx.TimeoutException as exc:
                last = f"timed out after {timeout or self.timeout:.0f}s ({exc.__class__.__name__})"
            except httpx.TransportError as exc:
                last = f"cannot reach {self.base_url}: {exc}"
            else:
                if resp.status_code < 300:
                    return resp
                body = _error_text(resp)
                last = f"HTTP {resp.status_code}: {body}"
                resp.close()
                if resp.status_code not in RETRY_STATUS or _rejects_response_format(payload, body):
                    raise RequestRefused(f"{self.base_url}{path} refused the request: {last}", resp.status_code)
            if attempt < self.max_retries:
                self.sleep(self._delay(attempt, resp))
        raise ModelUnavailable(f"{self.base_url}{path} failed after {self.max_retries + 1} attempts: {last}")

    def _json(self, resp: httpx.Response) -> dict:
        try:
            data = resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"{self.base_url} returned a body that is not JSON", raw_output=resp.text[:2000]) from exc
        if not isinstance(data, dict):
            raise ModelError(f"{self.base_url} returned unexpected JSON", raw_output=resp.text[:2000])
        return data

    # -- chat ------------------------------------------------------------------------------------
    def _payload(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model, "messages": list(request.messages), "max_tokens": request.max_tokens,
            "temperature": request.temperature, "stream": stream,
        }
        if request.stop:
            payload["stop"] = list(request.stop)
        if request.seed is not None:
            payload["seed"] = request.seed
        if request.schema is not None and self.schema_style == "json_schema":
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.schema, "strict": True},
            }
        elif request.schema is not None:
            payload["response_format"] = {"type": "json_object", "schema": request.schema}
        if stream:
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _send_chat(self, request: ChatRequest, stream: bool) -> httpx.Response:
        """POST the chat request; on 400/422 to a schema request, switch schema style once and retry."""
        try:
            return self._send("/chat/completions", self._payload(request, stream), request.timeout, stream)
        except RequestRefused as exc:
            if request.schema is None or "response_format" not in exc.detail or self.schema_style != "json_schema":
                raise
            self.schema_style = "json_object"
            return self._send("/chat/completions", self._payload(request, stream), request.timeout, stream)

    def complete(self, request: ChatRequest) -> Completion:
        started = time.monotonic()
        resp = self._send_chat(request, False)
        data = self._json(resp)
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ModelError(f"{self.base_url} returned no choices", raw_output=resp.text[:2000]) from exc
        usage = data.get("usage") or {}
        return Completion(
            text=text, prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=choice.get("finish_reason") or "stop", provider=self.provider,
            model=data.get("model") or self.model, seconds=time.monotonic() - started,
        )

    def stream(self, request: ChatRequest) -> Iterator[StreamChunk]:
        resp = self._send_chat(request, True)
        usage: dict[str, Any] = {}
        finish, pieces = "stop", 0
        try:
            for data in _sse_events(resp):
                usage = data.get("usage") or usage
                for choice in data.get("choices") or []:
                    finish = choice.get("finish_reason") or finish
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if piece:
                        pieces += 1
                        yield StreamChunk(text=piece, provider=self.provider, model=self.model)
        except httpx.TimeoutException as exc:
            raise ModelError(f"{self.base_url} stream timed out") from exc
        finally:
            resp.close()
        if not usage:  # servers that send no usage in streams: one chunk per token, prompt estimated
            usage = {"prompt_tokens": sum(self.count_tokens(m.get("content", "")) for m in request.messages),
                     "completion_tokens": pieces}
        yield StreamChunk(text="", provider=self.provider, model=self.model, finish_reason=finish,
                          prompt_tokens=int(usage.get("prompt_tokens") or 0),
                          completion_tokens=int(usage.get("completion_tokens") or 0))

    # -- embeddings / tokens -----------------------------------------------------------------------
    def embed(self, texts: Sequence[str], kind: str = "document") -> Embeddings:  # kind: the server's model decides
        started = time.monotonic()
        data = self._json(self._send("/embeddings", {"model": self.model, "input": list(texts)}, None))
        try:
            rows = sorted(data["data"], key=lambda row: row.get("index", 0))
            vectors = [[float(x) for x in row["embedding"]] for row in rows]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{self.base_url} returned malformed embeddings", raw_output=str(data)[:2000]) from exc
        self.dims = len(vectors[0]) if vectors else self.dims
        usage = data.get("usage") or {}
        return Embeddings(vectors=vectors, dims=self.dims, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                          provider=self.provider, model=self.model, seconds=time.monotonic() - started)

    def count_tokens(self, text: str) -> int:
        """An estimate (about 4 characters a token): remote endpoints expose no common tokenizer."""
        return max(1, len(text) // 4) if text else 0

    def close(self) -> None:
        self.client.close()


def _sse_events(resp: httpx.Response) -> Iterator[dict]:
    """Decode `data: {...}` server-sent events until `data: [DONE]`."""
    for line in resp.iter_lines():
        if not line.startswith("data:"):
            continue
        body = line[5:].strip()
        if body == "[DONE]":
            return
        try:
            yield json.loads(body)
        except json.JSONDecodeError as exc:
            raise ModelError("stream carried an event that is not JSON", raw_output=body[:2000]) from exc
