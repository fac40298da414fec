"""The authorisation matrix (issue 30 item 2): every route of the app's route table x every kind of key, sent to a
live server with auth on; each cell must be refused (401 `{"detail": ...}`) or let through exactly as the
route's kind says. Routes are read from the app itself: a new route that `KINDS` does not classify fails the
test (`test_every_route_is_classified`), so no route can be added without deciding who may use it; `KINDS` may
name routes a tree does not serve yet (helpers add routes concurrently).

Kinds, as Honcho's `require_auth` and its get-or-create handlers decide (plastic-labs/honcho `src/security.py`):
a route names a workspace (any key of that workspace's scope below it is refused: a peer or session key only
reaches routes of its own peer or session), a peer, a session, or a session and a peer; a session's read routes
(`session_read`, Honcho's `allow_member_read`) also let in a peer key whose peer is a member (alice is one of S,
bob is not); the get-or-create routes name what they create in the body (a peer key may create sessions and a
session key peers, as in Honcho).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from honcho_local.api import create_app
from honcho_local.config import load_settings
from tests.conftest import LiveServer, start_server, stop_server

SECRET = "matrix-secret-" + "x" * 40
W, W2, P, P2, S, S2 = "wsa", "wsb", "alice", "bob", "s1", "s2"
AUTH_ENV = {"AUTH_USE_AUTH": "true", "AUTH_JWT_SECRET": SECRET}

# route (method and template, as the route table writes it) -> kind
KINDS: dict[str, str] = {
    "GET /health": "open", "GET /openapi.json": "open", "GET /metrics": "admin", "GET /status": "admin",
    "POST /v3/workspaces": "create_workspace", "POST /v3/workspaces/list": "admin", "POST /v3/keys": "admin",
    "PUT /v3/workspaces/{workspace_id}": "workspace", "DELETE /v3/workspaces/{workspace_id}": "workspace",
    "POST /v3/workspaces/{workspace_id}/peers": "create_peer",
    "POST /v3/workspaces/{workspace_id}/peers/list": "workspace",
    "PUT /v3/workspaces/{workspace_id}/peers/{peer_id}": "peer",
    "DELETE /v3/workspaces/{workspace_id}/peers/{peer_id}": "peer",
    "POST /v3/workspaces/{workspace_id}/peers/{peer_id}/sessions": "peer",
    "GET /v3/workspaces/{workspace_id}/peers/{peer_id}/card": "peer",
    "PUT /v3/workspaces/{workspace_id}/peers/{peer_id}/card": "peer",
    "GET /v3/workspaces/{workspace_id}/peers/{peer_id}/context": "peer",
    "POST /v3/workspaces/{workspace_id}/peers/{peer_id}/representation": "peer",
    "POST /v3/workspaces/{workspace_id}/peers/{peer_id}/search": "peer",
    "POST /v3/workspaces/{workspace_id}/peers/{peer_id}/chat": "peer",
    "POST /v3/workspaces/{workspace_id}/peers/{peer_id}/recall": "peer",
    "POST /v3/workspaces/{workspace_id}/sessions": "create_session",
    "POST /v3/workspaces/{workspace_id}/sessions/list": "workspace",
    "PUT /v3/workspaces/{workspace_id}/sessions/{session_id}": "session",
    "DELETE /v3/workspaces/{workspace_id}/sessions/{session_id}": "session",
    "POST /v3/workspaces/{workspace_id}/sessions/{session_id}/clone": "session",
    "GET /v3/workspaces/{workspace_id}/sessions/{session_id}/peers": "session_read",
    "POST /v3/workspaces/{workspace_id}/sessions/{session_id}/peers": "session",
    "PUT /v3/workspaces/{workspace_id}/sessions/{session_id}/peers": "session",
    "DELETE /v3/workspaces/{workspace_id}/sessions/{session_id}/peers": "session",
    "GET /v3/workspaces/{workspace_id}/sessions/{session_id}/peers/{peer_id}/config": "session_peer",
    "PUT /v3/workspaces/{workspace_id}/sessions/{session_id}/peers/{peer_id}/config": "session_peer",
    "POST /v3/workspaces/{workspace_id}/sessions/{session_id}/messages": "session",
    "POST /v3/workspaces/{workspace_id}/sessions/{session_id}/messages/upload": "session",
    "POST /v3/workspaces/{workspace_id}/sessions/{session_id}/messages/list": "session_read",
    "GET /v3/workspaces/{workspace_id}/sessions/{session_id}/messages/{message_id}": "session_read",
    "PUT /v3/workspaces/{workspace_id}/sessions/{session_id}/messages/{message_id}": "session",
    "DELETE /v3/workspaces/{workspace_id}/sessions/{session_id}/messages/{message_id}": "session",
    "POST /v3/workspaces/{workspace_id}/sessions/{session_id}/events": "session",
    "POST /v3/workspaces/{workspace_id}/sessions/{session_id}/events/list": "session",
    "POST /v3/workspaces/{workspace_id}/sessions/{session_id}/search": "session_read",
    "GET /v3/workspaces/{workspace_id}/sessions/{session_id}/context": "session_read",
    "GET /v3/workspaces/{workspace_id}/sessions/{session_id}/summaries": "session_read",
    "GET /v3/workspaces/{workspace_id}/queue/status": "workspace",
    "POST /v3/workspaces/{workspace_id}/search": "workspace",
    "POST /v3/workspaces/{workspace_id}/chat": "workspace",
    "POST /v3/workspaces/{workspace_id}/conclusions": "workspace",
    "POST /v3/workspaces/{workspace_id}/conclusions/list": "workspace",
    "POST /v3/workspaces/{workspace_id}/conclusions/query": "workspace",
    "GET /v3/workspaces/{workspace_id}/conclusions/{conclusion_id}": "workspace",
    "DELETE /v3/workspaces/{workspace_id}/conclusions/{conclusion_id}": "workspace",
    "GET /v3/workspaces/{workspace_id}/conclusions/{conclusion_id}/sources": "workspace",
    "POST /v3/workspaces/{workspace_id}/schedule_dream": "workspace",
    # Honcho 3.2 scopes: workspace (or admin) keys only, whatever session the path names
    "POST /v3/workspaces/{workspace_id}/scopes": "workspace",
    "POST /v3/workspaces/{workspace_id}/scopes/list": "workspace",
    "GET /v3/workspaces/{workspace_id}/scopes/{scope_id}": "workspace",
    "GET /v3/workspaces/{workspace_id}/scopes/{scope_id}/status": "workspace",
    "POST /v3/workspaces/{workspace_id}/scopes/{scope_id}/sessions": "workspace",
    "POST /v3/workspaces/{workspace_id}/scopes/{scope_id}/sessions/list": "workspace",
    "DELETE /v3/workspaces/{workspace_id}/scopes/{scope_id}/sessions/{session_id}": "workspace",
    "GET /admin/versions": "admin", "POST /admin/versions/{name}/activate": "admin",
    "POST /admin/versions/rollback": "admin", "POST /admin/backup": "admin",
    "GET /docs": "open", "GET /docs/swagger": "open", "GET /docs/openapi.json": "open",
    "GET /docs/oauth2-redirect.html": "open", "GET /docs/{path}": "open", "GET /docs/assets/{file_path}": "open",
    "GET /ui": "open", "GET /ui/{file_path}": "open",
    "POST /mcp": "any_key",  # the MCP door (not a Litestar route): any valid key; its tools then call with it
}
FILL = {"workspace_id": W, "peer_id": P, "session_id": S, "message_id": "m-none", "conclusion_id": "c-none",
        "scope_id": "sc1", "name": "v-none", "file_path": "index.html", "path": "swagger"}
BODIES = {"create_workspace": {"id": W}, "create_peer": {"id": P}, "create_session": {"id": S}}
MESSAGES = {"messages": [{"peer_id": P, "content": "matrix"}]}


def _key(exp: str | None = None, secret: str = SECRET, **claims: Any) -> str:
    """A key as Honcho's `create_jwt` writes one (its claim names; `exp` an ISO string), signed with PyJWT."""
    payload = {"t": "2026-01-01T00:00:00", **claims, **({"exp": exp} if exp else {})}
    return jwt.encode(payload, secret.encode(), algorithm="HS256")


PAST = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
KEYS: dict[str, str | None] = {
    "none": None, "garbage": "not-a-jwt", "forged": _key(secret="another-secret-" + "y" * 40, ad=True),
    "expired": _key(exp=PAST, w=W), "admin": _key(ad=True), "owner": "<server.json token>",
    "ws_own": _key(w=W), "ws_other": _key(w=W2), "peer_own": _key(w=W, p=P), "peer_other": _key(w=W, p=P2),
    "peer_elsewhere": _key(w=W2, p=P), "session_own": _key(w=W, s=S), "session_other": _key(w=W, s=S2),
    "session_elsewhere": _key(w=W2, s=S),
}
VALID = {name for name in KEYS if name not in ("none", "garbage", "forged", "expired")}
ALLOWED = {  # kind -> the keys (besides admin and owner) that may use it
    "workspace": {"ws_own"}, "peer": {"ws_own", "peer_own"}, "session": {"ws_own", "session_own"},
    "session_peer": {"ws_own", "session_own", "peer_own"}, "admin": set(),
    "session_read": {"ws_own", "session_own", "peer_own"},  # alice (P) is a member of S, bob (P2) is not
    "create_workspace": {"ws_own", "peer_own", "peer_other", "session_own", "session_other"},  # any key of W
    "create_peer": {"ws_own", "peer_own", "session_own", "session_other"},
    "create_session": {"ws_own", "session_own", "peer_own", "peer_other"},
    "open": set(KEYS), "any_key": VALID,
}


def expected_allowed(kind: str, key: str) -> bool:
    return key in ("admin", "owner") or key in ALLOWED[kind]


def route_table() -> list[str]:
    """Every `METHOD /template` the app serves (HEAD and OPTIONS are Litestar's own), plus the MCP door."""
    settings = load_settings(home=Path("/nonexistent-home"), env={})
    app = create_app(types.SimpleNamespace(settings=settings))  # type: ignore[arg-type]
    found = set()
    for route in app.routes:
        template = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        found |= {f"{method} {template}" for method in route.methods if method not in ("HEAD", "OPTIONS")}
    return sorted(found | {"POST /mcp"})


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("auth-home"), env=AUTH_ENV)
    yield srv
    stop_server(srv)


def _send(client: httpx.Client, route: str, kind: str, token: str | None) -> httpx.Response:
    method, template = route.split(" ", 1)
    path = re.sub(r"\{(\w+)\}", lambda m: FILL[m[1]], template)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: Any = None
    if method in ("POST", "PUT"):
        body = MESSAGES if path.endswith(f"/sessions/{S}/messages") else BODIES.get(kind, {})
    if route == "POST /mcp":
        headers["Accept"] = "application/json, text/event-stream"
    return client.request(method, path, headers=headers, content=None if body is None else json.dumps(body))


def _cell(client: httpx.Client, route: str, kind: str, key: str, token: str | None) -> str | None:
    """None when the cell behaves; else what went wrong."""
    response = _send(client, route, kind, token)
    if expected_allowed(kind, key):  # past the door: any answer but a refusal or a server error
        status = response.status_code
        return None if status not in (401, 403) and status < 500 else \
            f"wrongly refused or failed: {status} {response.text[:120]}"
    if response.status_code != 401:
        return f"leak: {response.status_code} {response.text[:120]}"
    detail = response.json().get("detail")
    ok = isinstance(detail, str) and detail and response.headers.get("www-authenticate") == "Bearer"
    return None if ok else f"401 without a detail or WWW-Authenticate: {response.text[:120]}"


def _join(client: httpx.Client, owner: str) -> None:
    auth = {"Authorization": f"Bearer {owner}"}
    assert client.post("/v3/workspaces", json={"id": W}, headers=auth).status_code in (200, 201)
    assert client.post(f"/v3/workspaces/{W}/sessions", json={"id": S}, headers=auth).status_code in (200, 201)
    joined = client.post(f"/v3/workspaces/{W}/sessions/{S}/peers", json={P: {}}, headers=auth)
    assert joined.status_code == 200, joined.text


def _stored_messages(client: httpx.Client, owner: str) -> int:
    listed = client.post(f"/v3/workspaces/{W}/sessions/{S}/messages/list", json={"filters": {}},
                         params={"size": 100}, headers={"Authorization": f"Bearer {owner}"})
    assert listed.status_code == 200, listed.text
    return sum(item["content"] == "matrix" for item in listed.json()["items"])


def test_every_route_is_classified() -> None:
    unclassified = [route for route in route_table() if route not in KINDS]
    assert not unclassified, f"routes without an auth kind in tests/test_auth_matrix.py KINDS: {unclassified}"


def test_authorisation_matrix(auth_server: LiveServer) -> None:
    routes = [route for route in route_table() if route in KINDS]  # test_every_route_is_classified: the others
    keys = {**KEYS, "owner": json.loads((auth_server.home / "server.json").read_text())["token"]}
    # the DELETEs of the workspace, peer and session last: every other cell runs against live resources
    destructive = lambda r: r.startswith("DELETE /v3/workspaces/{workspace_id}") and r.count("/") <= 5  # noqa: E731
    routes.sort(key=destructive)
    failures, cells, checked = [], 0, False
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=auth_server.url, timeout=120, headers=headers) as client:
        for route in routes:
            if destructive(route) and not checked:  # refused writes stored nothing: one message per allowed POST
                checked = _stored_messages(client, keys["owner"]) == sum(
                    expected_allowed("session", key) for key in keys)
                assert checked, f"{_stored_messages(client, keys['owner'])} matrix messages stored"
            kind = KINDS[route]
            if kind == "session_read":  # alice a member of S again, whatever the cells before changed
                _join(client, keys["owner"])
            for key, token in keys.items():
                cells += 1
                problem = _cell(client, route, kind, key, token)
                if problem:
                    failures.append(f"{route} with {key} key ({kind}): {problem}")
    print(f"authorisation matrix: {len(routes)} routes x {len(keys)} keys = {cells} cells, {len(failures)} failures")
    assert not failures, "\n".join(failures)
    assert checked and cells == len(routes) * len(keys) and len(routes) >= 70
