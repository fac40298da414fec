"""The request guard: what a web page in the user's browser must not be able to do to a local server.

A server on 127.0.0.1 is reachable by every page its user opens. Three rules, checked before anything
else answers (`serving_app` puts the guard outside `MessagesFastPath` and Litestar, so no route, fast or
not, is reached first):

1. `Host` names this server: a loopback name or address, the bound address, or an `allowed_hosts`
   entry; any port. Anything else is 421 (DNS rebinding: a page whose own name now resolves to
   127.0.0.1 sends its own name). A wildcard bind (`--allow-remote` on 0.0.0.0) also accepts any IP
   literal, which cannot be a rebinding name. A request without `Host` (HTTP/1.0) is let through: no
   browser sends one, and rebinding needs a browser.
2. A state change (POST, PUT, PATCH, DELETE) from a browser page must come from an allowed origin:
   an `Origin` that `cors_origins` allows or that is this server itself (its /docs page), else 403;
   without `Origin`, `Sec-Fetch-Site: cross-site` / `same-site` is 403.
3. A state change carries JSON or nothing: a `Content-Type` other than `application/json` (text/plain,
   form-urlencoded, multipart: what a page may send without a CORS preflight), or a body without a
   `Content-Type`, is 415; except `multipart/form-data` on Honcho's `…/sessions/{s}/messages/upload` (that path
   alone; rule 2 still applies to it, so a foreign page's upload is refused by its Origin). The MCP door at `/mcp` (mounted inside
   the guard) needs no exception: streamable HTTP POSTs JSON, and its GET and DELETE carry no body.

Refusals are `{"detail": ...}` and happen before the body is read, so nothing is changed. Reads from
other origins are answered without CORS headers (Litestar's CORS config, `cors_config`, built from the
same `cors_origins`), so the page cannot see them. docs/security.md explains the model.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from litestar.config.cors import CORSConfig

from honcho_local import localnet
from honcho_local.api.auth import AuthGate
from honcho_local.api.fastpath import MessagesFastPath
from honcho_local.config import Settings

log = logging.getLogger(__name__)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FROM_ELSEWHERE = ("cross-site", "same-site")
_WANTED = frozenset({b"host", b"origin", b"content-type", b"content-length", b"transfer-encoding",
                     b"sec-fetch-site"})
Scope = dict[str, Any]


def cors_config(origins: list[str]) -> CORSConfig:
    """Litestar's CORS for the `cors_origins` setting (the same pattern the guard checks writes with)."""
    return CORSConfig(allow_origins=[], allow_origin_regex=localnet.origin_pattern(origins))


@dataclass(frozen=True)
class Policy:
    """The guard's rules, built once from the settings."""

    names: frozenset[str]
    any_ip: bool
    any_host: bool
    origins: re.Pattern[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        bound = localnet.bracketed(settings.host.strip())
        wildcard = bound in localnet.WILDCARD_BINDS
        names = frozenset(settings.allowed_hosts) | ({bound} if not wildcard else frozenset())
        return cls(names=names - {"*"}, any_ip=wildcard, any_host="*" in settings.allowed_hosts,
                   origins=re.compile(localnet.origin_pattern(settings.cors_origins)))

    def host_ok(self, value: str) -> bool:
        name = localnet.host_name(value)
        if name is None:
            return self.any_host
        return (self.any_host or name in self.names or localnet.is_loopback(name)
                or (self.any_ip and localnet.is_ip(name)))

    def origin_ok(self, origin: str, scheme: str, host: str | None) -> bool:
        origin = origin.lower()
        return bool(self.origins.fullmatch(origin)) or (host is not None and origin == f"{scheme}://{host.lower()}")

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, detail) when the request breaks a rule; None when it may go on."""
        headers = {name: value.decode("latin-1") for name, value in scope["headers"] if name in _WANTED}
        host = headers.get(b"host")
        if host is not None and not self.host_ok(host):
            return 421, (f"Host {host[:100]!r} is not a name of this server (a DNS rebinding defence): add it "
                         "to the allowed_hosts setting if it is yours")
        if scope.get("method", "GET") not in STATE_CHANGING and scope["type"] == "http":
            return None
        origin = headers.get(b"origin")
        if origin is not None and not self.origin_ok(origin, scope.get("scheme", "http"), host):
            return 403, (f"a request from the web page origin {origin[:100]!r} may not change data here: "
                         "only the cors_origins setting's origins may")
        if origin is None and headers.get(b"sec-fetch-site", "").strip().lower() in _FROM_ELSEWHERE:
            return 403, "a request from another site's web page may not change data here"
        if scope["type"] == "http":
            return _body_refusal(headers, scope.get("path", ""))
        return None


_UPLOAD = re.compile(r"/v3/workspaces/[^/]+/sessions/[^/]+/messages/upload")


def _body_refusal(headers: dict[bytes, str], path: str = "") -> tuple[int, str] | None:
    content_type = headers.get(b"content-type")
    if content_type is not None:
        media = content_type.split(";", 1)[0].strip().lower()
        if media == "application/json" or (media == "multipart/form-data" and _UPLOAD.fullmatch(path)):
            return None
        return 415, (f"request bodies must be application/json, not {media[:100]!r} (a web page can send that "
                     "type to a local server without asking first)")
    has_body = headers.get(b"content-length", "0").strip() not in ("0", "") or b"transfer-encoding" in headers
    return (415, "a request body needs Content-Type: application/json") if has_body else None


class RequestGuard:
    """ASGI app: refuses what `Policy` refuses, hands the rest to `app` untouched."""

    def __init__(self, app: Any, policy: Policy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refused = self.policy.refusal(scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, detail = refused
        log.warning("refused %s %s (%d): %s", scope.get("method", "WEBSOCKET"), scope["path"], status, detail)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        payload = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]})
        await send({"type": "http.response.body", "body": payload})


def serving_app(app: Any, ingest: Any, settings: Settings, mount: Any = None) -> RequestGuard:
    """What `serve` runs: the guard, in front of the key check of what Litestar does not route (with auth on),
    in front of the message fast path, in front of the Litestar app.
    `mount(inner)` wraps what the guard protects: the MCP door at `/mcp` (`honcho_local.mcp.door`)."""
    inner = MessagesFastPath(app, ingest)
    inner = mount(inner) if mount is not None else inner
    authority = getattr(app.state, "authority", None)  # auth on: keys for the fast path and /mcp (api/auth.py)
    return RequestGuard(AuthGate(inner, authority, app) if authority else inner, Policy.from_settings(settings))
