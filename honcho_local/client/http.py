"""The seed client's HTTP: one `httpx.Client` to the v3 API, with retries, backoff and jitter.

A request is retried on connection errors, timeouts and the answers retrying can change (408, 429, 500,
502, 503, 504), up to `Backoff.retries` times. The wait before retry n (n = 0, 1, ...) is the server's
`Retry-After` (seconds or an HTTP date, capped at `Backoff.cap`) when it sends one, else "full jitter":
a uniform draw in [0, min(cap, base * 2**n)]. Any other non-2xx answer raises at once with the server's
`{"detail": ...}`. Writes carry an `Idempotency-Key`, so a retried write the server had already stored
is answered from its record instead of being stored twice (docs/api.md).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class HonchoClientError(Exception):
    """A request failed: refused by the server (`status` set), or unanswered after every retry."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class Backoff:
    """How often and how long to wait between tries (seconds)."""

    retries: int = 5
    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.cap)
        return self.rng.uniform(0.0, min(self.cap, self.base * 2 ** attempt))


def retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.text[:300]


class Api:
    """JSON requests to one server; `Authorization: Bearer <api_key>` on each when a key is given."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60.0,
                 backoff: Backoff | None = None, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def request(self, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, retries: int | None = None) -> Any:
        """The answer's JSON (None when empty), after retries (`retries`, else the backoff's); `HonchoClientError`
        otherwise."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        last, status = "", None
        retries = self.backoff.retries if retries is None else retries
        for attempt in range(retries + 1):
            hinted, status = None, None
            try:
                response = self._client.request(method, path, json=body, params=query, headers=headers)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return response.json() if response.content else None
                status, last = response.status_code, f"HTTP {response.status_code}: {_detail(response)}"
                if response.status_code not in RETRY_STATUS:
                    raise HonchoClientError(f"{method} {path} answered {last}", response.status_code)
                hinted = retry_after(response.headers.get("retry-after"))
            if attempt < retries:
                self.sleep(self.backoff.delay(attempt, hinted))
        raise HonchoClientError(f"{method} {self.base_url}{path} failed after {retries + 1} tries; "
                                f"last: {last}", status, retryable=True)

    def close(self) -> None:
        self._client.close()
