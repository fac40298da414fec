"""The write path's hottest request without the framework's per-request machinery.

`POST /v3/workspaces/{workspace_id}/sessions/{session_id}/messages` is most of what an agent sends.
Through Litestar it costs routing, the kwargs and dependency models, the before-request hook, the
middleware stack and the response object: about a third of the server's GIL time under write load
(py-spy), on the same GIL the writer thread needs between its DuckDB calls. This ASGI wrapper, in
front of the Litestar app, answers that one request itself when it is the plain case (valid path ids,
a JSON content type, no query string, no Origin header, a body the same pydantic model accepts) with
the same service call and the same response: 201 and the stored messages as JSON. An
`Idempotency-Key` header goes to the service as Litestar's route hands it over (issue 31).

Everything else goes to Litestar untouched, the body replayed: any request the plain case does not
cover, and any body the model or the service rejects before anything is queued, so every error keeps
Litestar's exact answer (its validation messages, CORS, 413 for an oversize body). An error from the
write itself (after queueing, where a second try would not be the same request) is answered here with
the same `{"detail": ...}` mapping as `api.errors`. tests/test_fastpath.py checks that both ways answer
alike. Checks that every request needs (the Host/Origin/content-type guard, authentication) belong in
front of both, in `api.guard.serving_app`, not here.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import msgspec

from honcho_local import metrics, schemas
from honcho_local.api.contract import MAX_JSON_DEPTH, nested_deeper_than
from honcho_local.api.errors import UNEXPECTED, status_for
from honcho_local.errors import HonchoLocalError

log = logging.getLogger(__name__)

_PATH = re.compile(r"/v3/workspaces/([a-zA-Z0-9_-]{1,512})/sessions/([a-zA-Z0-9_-]{1,512})/messages")
_MAX_BODY = 10_000_000  # Litestar's request_max_body_size: past it, Litestar answers (413)
_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder().decode
Scope = dict[str, Any]


def _plain(scope: Scope) -> tuple[bool, str | None]:
    """A JSON body, no Origin (CORS is Litestar's), no Expect (100-continue is the server's); and the
    `Idempotency-Key` header if sent (issue 31; the service checks it as for Litestar's route)."""
    json_body, key = False, None
    for name, value in scope["headers"]:
        if name == b"content-type":
            json_body = value.split(b";", 1)[0].strip().lower() == b"application/json"
        elif name in (b"origin", b"expect"):
            return False, None
        elif name == b"idempotency-key":
            key = value.decode("latin-1")
    return json_body, key


class MessagesFastPath:
    """ASGI app: `create_messages` answered directly in its plain case, anything else by `app`."""

    def __init__(self, app: Any, ingest: Any) -> None:
        self.app = app
        self.ingest = ingest

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        match = _PATH.fullmatch(scope["path"])
        plain, key = _plain(scope) if match is not None else (False, None)
        if match is None or not plain:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        chunks: list[bytes] = []
        size, more = 0, True
        while more and size <= _MAX_BODY:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if more:
            await self.app(scope, _replay(body, True, receive), send)
            return
        try:
            raw = _DECODE(body)
            batch = schemas.MessageBatch.model_validate(raw)
            # Litestar's request refuses bodies nested deeper than MAX_JSON_DEPTH (api.contract); a valid batch
            # can only be that deep through a `configuration`'s free-form keys, so only then is it walked
            if any(m.configuration is not None for m in batch.messages) and nested_deeper_than(raw, MAX_JSON_DEPTH):
                raise ValueError("nested too deeply")
            future = self.ingest.submit_messages(match[1], match[2], batch, key)
        except Exception:  # noqa: BLE001 - nothing was queued: Litestar gives its own answer
            await self.app(scope, _replay(body, False, receive), send)
            return
        try:
            status, payload = 201, _ENCODE(await asyncio.wrap_future(future))
        except HonchoLocalError as exc:
            status, payload = status_for(exc), _ENCODE({"detail": exc.detail})
        except Exception:  # noqa: BLE001 - as api.errors.unexpected_error
            log.exception("unhandled error")
            status, payload = 500, _ENCODE({"detail": UNEXPECTED})
        elapsed = time.perf_counter() - started
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload)),
                                (b"server-timing", b"app;dur=%.3f" % (elapsed * 1000))]})
        await send({"type": "http.response.body", "body": payload})
        metrics.REQUEST_SECONDS.labels("create_messages").observe(time.perf_counter() - started)


def _replay(body: bytes, more: bool, receive: Any) -> Any:
    """A `receive` that hands over the body already read, then (if more is coming) the rest."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay
