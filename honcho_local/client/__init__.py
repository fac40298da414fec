"""The seed's client: `honcho.apps.users.sessions.…` over the v3 HTTP API, with retries and batched writes.

    from honcho_local.client import Honcho

    with Honcho(base_url="http://127.0.0.1:8000") as honcho:
        honcho.apps.users.sessions.messages.create(app_id="invoices", user_id="alice", session_id="s1",
                                                   content="I automate invoices in Python.", is_user=True)
        summary = honcho.apps.users.sessions.get_context(app_id="invoices", user_id="alice", session_id="s1")

Mapping onto v3 (docs/integrations.md): an app is a workspace, a user is a peer, a session is a session;
`is_user=False` writes as the app's assistant peer, `assistant_peer_id` ("assistant" unless given).
Workspaces, peers and sessions are created by the server on their first message. `get_context` answers the
server's memory of the user as plain text: the user's peer card, the representation (profile and
conclusions) and the session summary from `GET …/sessions/{s}/context`, joined; "" while the server knows
nothing yet. Only httpx and the standard library: this module never imports the server.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import re
from concurrent.futures import Future
from typing import Any
from urllib.parse import quote

import httpx

from honcho_local.client.batching import MAX_BATCH, Batcher
from honcho_local.client.http import Api, Backoff, HonchoClientError

__all__ = ["Backoff", "Honcho", "HonchoClientError", "MAX_BATCH", "summary_text"]

DEFAULT_URL = "http://127.0.0.1:8000"
log = logging.getLogger(__name__)
_HEADING = re.compile(r"^#+\s")
_STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d[ T][\d:]+\]\s*")  # "[2026-12-07 10:05:26] " before a conclusion
_LABEL = re.compile(r"^[A-Z][A-Z _-]{1,30}:\s+")  # "IDENTITY: " before a peer card line


def _path(*parts: str) -> str:
    return "/v3/workspaces/" + "/".join(quote(p, safe="") for p in parts)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if not text or text[-1] in ".!?" else text + "."


def _send(api: Api, workspace: str, session: str, messages: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return api.request("POST", _path(workspace, "sessions", session, "messages"), {"messages": messages},
                       headers={"Idempotency-Key": key})


def _close_at_exit(batcher: Batcher, api: Api) -> None:
    """A client left open: its buffered writes are sent when the interpreter exits."""
    try:
        batcher.close()
    except HonchoClientError as exc:
        log.warning("honcho_local.client: %d buffered message(s) not sent: %s", batcher.pending(), exc)
    finally:
        api.close()


def summary_text(context: dict[str, Any]) -> str:
    """A session context (`GET …/sessions/{s}/context` with `peer_target`) as one paragraph: the peer
    card's lines, the representation's prose and conclusions (headings and timestamps left out), then the
    session summary; each once, in that order."""
    lines = [_LABEL.sub("", line) for line in context.get("peer_card") or []]
    for line in (context.get("peer_representation") or "").splitlines():
        if line.strip() and not _HEADING.match(line):
            lines.append(_STAMP.sub("", line.strip()))
    if context.get("summary"):
        lines.append(context["summary"]["content"])
    sentences = dict.fromkeys(s for s in map(_sentence, lines) if s)
    return " ".join(sentences)


class Honcho:
    """A client of one honcho-local (or Honcho v3) server. Thread-safe; close it, or use it as a context
    manager, so the buffered writes are flushed.

    `base_url` defaults to `$HONCHO_URL`, then http://127.0.0.1:8000; `api_key` (sent as
    `Authorization: Bearer`) to `$HONCHO_API_KEY`. Writes are buffered per session and sent in batches of up
    to `batch_size` messages, when `batch_size` wait, when the oldest has waited `flush_interval` seconds
    (None: only on `flush()`/`close()`), and before a `get_context` of the same session. A client never
    closed is flushed at interpreter exit.
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 assistant_peer_id: str = "assistant", batch_size: int = 50, flush_interval: float | None = 1.0,
                 timeout: float = 60.0, backoff: Backoff | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        base_url = base_url or os.environ.get("HONCHO_URL") or DEFAULT_URL
        api_key = api_key if api_key is not None else os.environ.get("HONCHO_API_KEY")
        self.assistant_peer_id = assistant_peer_id
        self.api = Api(base_url, api_key, timeout, backoff, transport)
        self._batcher = Batcher(functools.partial(_send, self.api), batch_size, flush_interval)
        self._at_exit = functools.partial(_close_at_exit, self._batcher, self.api)
        atexit.register(self._at_exit)
        self.apps = _Apps(self)

    def flush(self) -> None:
        """Send every buffered message now; raises the first failure (`HonchoClientError`)."""
        self._batcher.flush()

    def pending(self) -> int:
        """Messages written and not yet acknowledged by the server."""
        return self._batcher.pending()

    def close(self) -> None:
        """Flush, then release the connection (also when the flush fails, which then raises)."""
        atexit.unregister(self._at_exit)
        try:
            self._batcher.close()
        finally:
            self.api.close()

    def __enter__(self) -> Honcho:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Apps:
    def __init__(self, client: Honcho) -> None:
        self.users = _Users(client)


class _Users:
    def __init__(self, client: Honcho) -> None:
        self.sessions = _Sessions(client)


class _Sessions:
    def __init__(self, client: Honcho) -> None:
        self._client = client
        self.messages = _Messages(client)

    def get_context(self, app_id: str, user_id: str, session_id: str, tokens: int | None = None) -> str:
        """What the server remembers of the user, as text (`summary_text`); pending writes of the session
        are flushed first. `tokens` bounds the server's context (its maximum when None)."""
        self._client._batcher.flush([(app_id, session_id)])
        context = self._client.api.request("GET", _path(app_id, "sessions", session_id, "context"),
                                           params={"peer_target": user_id, "summary": "true", "tokens": tokens})
        return summary_text(context)


class _Messages:
    def __init__(self, client: Honcho) -> None:
        self._client = client

    def create(self, app_id: str, user_id: str, session_id: str, content: str, is_user: bool = True,
               metadata: dict[str, Any] | None = None) -> Future:
        """Buffer a message of the user (`is_user=True`) or of the app's assistant peer; the future resolves
        to the stored message (a dict, as the v3 API answers it) once its batch is acknowledged. When this
        message fills the buffer, the flush runs here and its failure is raised here (`HonchoClientError`)."""
        message: dict[str, Any] = {"peer_id": user_id if is_user else self._client.assistant_peer_id,
                                   "content": content}
        if metadata is not None:
            message["metadata"] = metadata
        return self._client._batcher.add(app_id, session_id, message)
