"""Honcho-compatible API keys (issue 30 item 2): the claims and their checks, the settings, the keys route, the
CLI, the official SDK's `api_key`, the MCP door and the admin routes with auth on, and `serve` refusing a
non-loopback address without auth. The route x key matrix is tests/test_auth_matrix.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from honcho_local import apikeys
from honcho_local.bench.server import free_port
from honcho_local.config import load_settings
from honcho_local.errors import InvalidInput
from tests.conftest import REPO_ROOT, LiveServer, start_server, stop_server
from tests.test_auth_matrix import AUTH_ENV, SECRET

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "honcho_local.cli", *args], capture_output=True, text=True,
                          cwd=str(REPO_ROOT), timeout=300, check=False, env=env)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ---- claims -----------------------------------------------------------------------------------------
def test_a_key_minted_here_carries_honchos_claims_and_reads_back() -> None:
    key = apikeys.mint(SECRET, workspace="w", peer="alice", expires=NOW)
    raw = jwt.decode(key, SECRET.encode(), algorithms=["HS256"], options={"verify_exp": False})
    assert set(raw) == {"t", "exp", "w", "p"} and raw["exp"] == "2026-06-01T12:00:00Z" and raw["p"] == "alice"
    claims = apikeys.decode(SECRET, key)
    assert (claims.admin, claims.workspace, claims.peer, claims.session) == (False, "w", "alice", None)
    assert claims.expires == NOW.timestamp()
    assert apikeys.decode(SECRET, apikeys.mint(SECRET, admin=True)).admin


def test_keys_shaped_as_honcho_mints_them_are_read() -> None:
    """Honcho's `create_jwt`: only the set fields, `t` a naive isoformat, `exp` ISO with Z (or none), `ad` true."""
    admin = jwt.encode({"t": "", "ad": True}, SECRET.encode(), algorithm="HS256")
    assert apikeys.decode(SECRET, admin).admin
    scoped = jwt.encode({"t": "2026-01-01T10:00:00.123456", "exp": "2099-01-01T00:00:00Z", "w": "w", "s": "s1"},
                        SECRET.encode(), algorithm="HS256")
    claims = apikeys.decode(SECRET, scoped)
    assert (claims.workspace, claims.session, claims.expired()) == ("w", "s1", False)
    numeric = jwt.encode({"w": "w", "exp": int(NOW.timestamp())}, SECRET.encode(), algorithm="HS256")
    assert apikeys.decode(SECRET, numeric).expires == NOW.timestamp()  # RFC 7519 NumericDate too


@pytest.mark.parametrize(("token", "detail"), [
    ("not-a-jwt", "Invalid JWT"),
    (jwt.encode({"ad": True}, ("z" * 40).encode(), algorithm="HS256"), "Invalid JWT"),  # another secret
    (jwt.encode({"ad": True}, SECRET.encode(), algorithm="HS512"), "Invalid JWT"),  # another algorithm
    (jwt.encode({"p": "alice"}, SECRET.encode(), algorithm="HS256"), "Invalid JWT scope: peer/session token missing workspace"),
    (jwt.encode({"w": 5}, SECRET.encode(), algorithm="HS256"), "Invalid JWT"),
    (jwt.encode({"w": "w", "exp": "soon"}, SECRET.encode(), algorithm="HS256"), "Invalid JWT"),
])
def test_keys_that_do_not_verify_are_refused_with_honchos_words(token: str, detail: str) -> None:
    with pytest.raises(apikeys.Unauthenticated, match=detail):
        apikeys.Verifier(SECRET).claims(token)


def test_the_cache_still_honours_expiry() -> None:
    key = apikeys.mint(SECRET, workspace="w", expires=NOW)
    clock = [NOW.timestamp() - 60]
    verifier = apikeys.Verifier(SECRET, clock=lambda: clock[0])
    assert verifier.claims(key).workspace == "w"
    assert verifier.claims(key).workspace == "w"  # from the cache
    clock[0] = NOW.timestamp() + 1
    with pytest.raises(apikeys.Unauthenticated, match="JWT expired"):
        verifier.claims(key)


def test_the_transport_cache_by_header_still_honours_expiry() -> None:
    from honcho_local.api.auth import Authority

    key = apikeys.mint(SECRET, workspace="w", expires=NOW)
    clock = [NOW.timestamp() - 60]
    authority = Authority(SECRET, clock=lambda: clock[0])
    assert authority.identify(f"Bearer {key}", "owner-token").workspace == "w"
    assert authority.identify("Bearer owner-token", "owner-token").admin
    clock[0] = NOW.timestamp() + 1
    with pytest.raises(apikeys.Unauthenticated, match="JWT expired"):
        authority.identify(f"Bearer {key}", "owner-token")
    for header in (None, "", "Bearer", "Basic abc", f"Bearer{key}"):
        with pytest.raises(apikeys.Unauthenticated, match="No access token provided"):
            authority.identify(header, "owner-token")


def test_refusal_follows_honchos_scopes() -> None:
    ws, peer, session = apikeys.Claims(workspace="w"), apikeys.Claims(workspace="w", peer="a"), \
        apikeys.Claims(workspace="w", session="s")
    assert apikeys.refusal(apikeys.ADMIN, None) is None
    assert apikeys.refusal(ws, None) == apikeys.ADMIN_ONLY  # a route naming nothing is admin-only
    assert apikeys.refusal(ws, "w", "b", "s") is None and apikeys.refusal(ws, "v") == apikeys.NOT_PERMITTED
    assert apikeys.refusal(peer, "w", "a") is None and apikeys.refusal(peer, "w", "b") == apikeys.NOT_PERMITTED
    assert apikeys.refusal(peer, "w") == apikeys.NOT_PERMITTED and apikeys.refusal(peer, "v", "a") is not None
    assert apikeys.refusal(session, "w", None, "s") is None and apikeys.refusal(session, "w", "a", "t") is not None
    assert apikeys.refusal(session, "w", "a") is not None  # a session key reaches no peer route


def test_minting_checks_the_scope_and_parse_expiry_reads_durations() -> None:
    for scope in ({}, {"peer": "a"}, {"session": "s"}, {"workspace": "bad id"}):
        with pytest.raises(InvalidInput):
            apikeys.mint(SECRET, **scope)
    assert apikeys.parse_expiry("30d", NOW) == NOW + dt.timedelta(days=30)
    assert apikeys.parse_expiry("1d12h", NOW) == NOW + dt.timedelta(hours=36)
    assert apikeys.parse_expiry("2027-01-31", NOW) == dt.datetime(2027, 1, 31, tzinfo=dt.UTC)
    for bad in ("soon", "2020-01-01", "0d"):
        with pytest.raises(InvalidInput):
            apikeys.parse_expiry(bad, NOW)


# ---- settings ---------------------------------------------------------------------------------------
def test_honchos_settings_names_and_auth_table(tmp_path: Path) -> None:
    assert not load_settings(tmp_path, env={}).auth_use_auth  # off by default
    on = load_settings(tmp_path, env=AUTH_ENV)
    assert on.auth_use_auth and on.auth_jwt_secret == SECRET
    (tmp_path / "config.toml").write_text(f'[auth]\nUSE_AUTH = true\nJWT_SECRET = "{SECRET}"\n')
    assert load_settings(tmp_path, env={}).auth_jwt_secret == SECRET
    (tmp_path / "config.toml").write_text("")
    with pytest.raises(InvalidInput, match="AUTH_JWT_SECRET"):
        load_settings(tmp_path, env={"AUTH_USE_AUTH": "true"})
    with pytest.raises(InvalidInput, match="32 characters"):
        load_settings(tmp_path, env={"AUTH_USE_AUTH": "true", "AUTH_JWT_SECRET": "short"})
    assert load_settings(tmp_path, env={"AUTH_JWT_SECRET": "short"}).auth_jwt_secret == "short"  # auth off: unused


def test_serve_refuses_a_remote_address_without_auth_in_one_line(tmp_path: Path) -> None:
    r = cli("serve", "--home", str(tmp_path), "--host", "0.0.0.0", "--allow-remote", "--port", str(free_port()),
            "--offline")
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1, r.stderr
    assert "AUTH_USE_AUTH" in lines[0] and "--insecure-no-auth" in lines[0]
    assert not (tmp_path / "honcho.duckdb").exists()


def test_serve_on_every_address_starts_with_auth_on(tmp_path: Path) -> None:
    env = {**AUTH_ENV, "HONCHO_LOCAL_HOST": "0.0.0.0", "HONCHO_LOCAL_ALLOW_REMOTE": "true"}
    srv = start_server(tmp_path / "home", env=env)
    try:
        refused = httpx.post(f"{srv.url}/v3/workspaces/list", json={})
        assert refused.status_code == 401 and refused.json() == {"detail": "No access token provided"}
        listed = httpx.post(f"{srv.url}/v3/workspaces/list", json={}, headers=bearer(apikeys.mint(SECRET, admin=True)))
        assert listed.status_code == 200
        assert "without authentication" not in srv.log()
    finally:
        stop_server(srv)


# ---- a live server with auth on -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("auth-home"), env=AUTH_ENV)
    yield srv
    stop_server(srv)


def owner_token(server: LiveServer) -> str:
    return json.loads((server.home / "server.json").read_text())["token"]


def test_keys_route_is_honchos(auth_server: LiveServer) -> None:
    url, admin = f"{auth_server.url}/v3/keys", apikeys.mint(SECRET, admin=True)
    made = httpx.post(url, params={"workspace_id": "kw", "peer_id": "alice"}, headers=bearer(admin))
    assert made.status_code == 200 and set(made.json()) == {"key"}
    claims = apikeys.decode(SECRET, made.json()["key"])
    assert (claims.workspace, claims.peer, claims.expires) == ("kw", "alice", None)
    expiring = httpx.post(url, params={"workspace_id": "kw", "expires_at": "2099-01-01T00:00:00Z"},
                          headers=bearer(owner_token(auth_server)))
    assert apikeys.decode(SECRET, expiring.json()["key"]).expires == dt.datetime(2099, 1, 1, tzinfo=dt.UTC).timestamp()
    assert httpx.post(url, headers=bearer(admin)).status_code == 422
    assert httpx.post(url, params={"peer_id": "alice"}, headers=bearer(admin)).status_code == 422
    refused = httpx.post(url, params={"workspace_id": "kw"}, headers=bearer(made.json()["key"]))
    assert refused.status_code == 401 and refused.json() == {"detail": "Resource requires admin privileges"}
    assert httpx.post(url, params={"workspace_id": "kw"}).json() == {"detail": "No access token provided"}


def test_an_expired_key_is_refused_and_the_fast_path_checks_keys(auth_server: LiveServer) -> None:
    path = f"{auth_server.url}/v3/workspaces/fw/sessions/s1/messages"
    body = {"messages": [{"peer_id": "alice", "content": "hello"}]}
    session_key = apikeys.mint(SECRET, workspace="fw", session="s1")
    assert httpx.post(path, json=body, headers=bearer(session_key)).status_code == 201
    other = httpx.post(path, json=body, headers=bearer(apikeys.mint(SECRET, workspace="fw", session="s2")))
    assert other.status_code == 401 and other.json() == {"detail": "JWT not permissioned for this resource"}
    expired = apikeys.mint(SECRET, workspace="fw", expires=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    answer = httpx.post(path, json=body, headers=bearer(expired))
    assert answer.status_code == 401 and answer.json() == {"detail": "JWT expired"}
    listed = httpx.post(f"{path}/list", json={}, headers=bearer(session_key)).json()["items"]
    assert [m["content"] for m in listed] == ["hello"]  # the refused writes stored nothing


def test_the_official_sdk_works_with_a_scoped_api_key(auth_server: LiveServer) -> None:
    from honcho import Honcho
    from honcho.http.exceptions import AuthenticationError

    workspace = f"sdk-{uuid.uuid4().hex[:8]}"
    key = apikeys.mint(SECRET, workspace=workspace)
    honcho = Honcho(base_url=auth_server.url, workspace_id=workspace, api_key=key)
    alice = honcho.peer("alice")
    session = honcho.session("s1")
    session.add_messages([alice.message("I keep bees in my garden.")])
    assert [m.content for m in session.messages()] == ["I keep bees in my garden."]
    session_only = Honcho(base_url=auth_server.url, workspace_id=workspace,
                          api_key=apikeys.mint(SECRET, workspace=workspace, session="s1"))
    assert [m.content for m in session_only.session("s1").messages()] == ["I keep bees in my garden."]
    with pytest.raises(AuthenticationError):
        list(session_only.sessions())  # listing the workspace's sessions is beyond a session key
    as_alice = Honcho(base_url=auth_server.url, workspace_id=workspace,
                      api_key=apikeys.mint(SECRET, workspace=workspace, peer="alice"))
    assert [m.content for m in as_alice.session("s1").messages()] == ["I keep bees in my garden."]  # a member
    with pytest.raises(AuthenticationError):
        as_alice.session("s1").add_messages([as_alice.peer("alice").message("not with a peer key")])
    with pytest.raises(AuthenticationError):
        Honcho(base_url=auth_server.url, workspace_id=workspace, api_key="garbage").peer("alice")


def test_admin_routes_take_the_owner_token_and_admin_keys_only(auth_server: LiveServer) -> None:
    url = f"{auth_server.url}/admin/versions"
    assert httpx.get(url, headers=bearer(owner_token(auth_server))).status_code == 200
    assert httpx.get(url, headers=bearer(apikeys.mint(SECRET, admin=True))).status_code == 200
    assert httpx.get(url, headers=bearer(apikeys.mint(SECRET, workspace="w"))).status_code == 401
    assert httpx.get(f"{auth_server.url}/health").status_code == 200  # open
    spec = httpx.get(f"{auth_server.url}/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert spec["security"] == [{"bearer": []}] and "/v3/keys" in spec["paths"]
    assert spec["paths"]["/health"]["get"]["security"] == [{}]  # no key needed
    assert "401" in spec["paths"]["/v3/workspaces/{workspace_id}/peers/list"]["post"]["responses"]


def test_status_cli_and_keys_cli_use_the_running_server(auth_server: LiveServer) -> None:
    home = str(auth_server.home)
    assert cli("status", "--home", home).returncode == 0  # /status is admin-only: the CLI sends the owner token
    made = cli("keys", "create", "--home", home, "--workspace", "cw", "--peer", "alice", "--expires", "30d")
    assert made.returncode == 0, made.stderr
    claims = apikeys.decode(SECRET, made.stdout.strip())
    assert (claims.workspace, claims.peer) == ("cw", "alice") and "expires" in made.stderr
    assert 29 * 86400 < claims.expires - dt.datetime.now(dt.UTC).timestamp() <= 30 * 86400
    peers = httpx.post(f"{auth_server.url}/v3/workspaces/cw/peers", json={"id": "alice"},
                       headers=bearer(made.stdout.strip()))
    assert peers.status_code in (200, 201)


def test_keys_cli_mints_from_the_secret_without_a_server(tmp_path: Path) -> None:
    import os

    env = {**os.environ, **AUTH_ENV}
    made = cli("keys", "create", "--home", str(tmp_path), "--workspace", "w", "--session", "s1", env=env)
    assert made.returncode == 0, made.stderr
    claims = apikeys.decode(SECRET, made.stdout.strip())
    assert (claims.workspace, claims.session, claims.expires) == ("w", "s1", None)
    assert apikeys.decode(SECRET, cli("keys", "create", "--home", str(tmp_path), "--admin", env=env).stdout.strip()).admin
    bare = {k: v for k, v in os.environ.items() if not k.endswith("AUTH_JWT_SECRET")}
    refused = cli("keys", "create", "--home", str(tmp_path), "--workspace", "w", env=bare)
    assert refused.returncode != 0 and "AUTH_JWT_SECRET" in refused.stderr
    assert cli("keys", "create", "--home", str(tmp_path), "--peer", "p", env=env).returncode == 2


def test_mcp_door_needs_a_key_and_calls_with_it(auth_server: LiveServer) -> None:
    workspace = f"mcp-{uuid.uuid4().hex[:8]}"

    async def agent(key: str) -> tuple[bool, str]:
        headers = {"X-Honcho-Workspace-ID": workspace, **bearer(key)}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=None)) as http, \
                Client(streamable_http_client(f"{auth_server.url}/mcp", http_client=http)) as client:
            result = await client.call_tool("create_peer", {"peer_id": "alice"})
            listed = await client.call_tool("list_peers", {})
            return result.is_error or listed.is_error, listed.content[0].text

    failed, text = asyncio.run(agent(apikeys.mint(SECRET, workspace=workspace)))
    assert not failed and json.loads(text) == [{"id": "alice"}]
    failed, text = asyncio.run(agent(apikeys.mint(SECRET, workspace=workspace, peer="alice")))
    assert failed and "401" in text  # a peer key may create its peer, not list the workspace's peers
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(f"{auth_server.url}/mcp", json=init, headers=accept).status_code == 401


def test_mcp_stdio_calls_with_the_owner_token_or_the_given_key(auth_server: LiveServer) -> None:
    from mcp.client.stdio import StdioServerParameters

    workspace = f"stdio-{uuid.uuid4().hex[:8]}"

    async def agent(*extra: str) -> tuple[bool, str]:
        params = StdioServerParameters(command=sys.executable, cwd=str(REPO_ROOT), args=[
            "-m", "honcho_local.cli", "mcp", "--home", str(auth_server.home), "--workspace", workspace, *extra])
        async with Client(params) as client:
            await client.call_tool("create_peer", {"peer_id": "alice"})
            listed = await client.call_tool("list_peers", {})
            return listed.is_error, listed.content[0].text

    failed, text = asyncio.run(agent())  # the running server's owner token
    assert not failed and json.loads(text) == [{"id": "alice"}]
    failed, text = asyncio.run(agent("--api-key", apikeys.mint(SECRET, workspace="another")))
    assert failed and "401" in text and "not permissioned" in text


def test_a_peer_key_names_only_its_own_sessions_in_chat_recall_and_representation(auth_server: LiveServer) -> None:
    """Honcho's chat gate: the dialectic reads the named session's messages, so a peer key naming a session its
    peer is not in would read other people's conversation."""
    base, owner = f"{auth_server.url}/v3/workspaces/mw", bearer(owner_token(auth_server))
    for session, peers in (("s-in", ("alice", "bob")), ("s-out", ("bob", "carol"))):
        messages = [{"peer_id": peer, "content": f"{peer} in {session}"} for peer in peers]
        assert httpx.post(f"{base}/sessions/{session}/messages", json={"messages": messages},
                          headers=owner).status_code == 201
    alice = bearer(apikeys.mint(SECRET, workspace="mw", peer="alice"))
    representation = f"{base}/peers/alice/representation"
    assert httpx.post(representation, json={"session_id": "s-in"}, headers=alice).status_code == 200
    assert httpx.post(representation, json={"filters": {"session_id": {"in": ["s-in"]}}}, headers=alice).status_code == 200
    for body in ({"session_id": "s-out"}, {"filters": {"session_id": ["s-in", "s-out"]}},
                 {"filters": {"session_id": {"in": ["s-out"]}}}, {"session_id": "no-such-session"}):
        refused = httpx.post(representation, json=body, headers=alice)
        assert refused.status_code == 401 and refused.json() == {"detail": "JWT not permissioned for this resource"}
    for route in ("chat", "recall"):
        refused = httpx.post(f"{base}/peers/alice/{route}", json={"query": "what did carol say?", "session_id": "s-out"},
                             headers=alice)
        assert refused.status_code == 401, refused.text
    workspace_key = bearer(apikeys.mint(SECRET, workspace="mw"))  # workspace keys are not limited
    assert httpx.post(representation, json={"session_id": "s-out"}, headers=workspace_key).status_code == 200


def test_a_peer_key_reads_the_sessions_its_peer_is_in_and_writes_none(auth_server: LiveServer) -> None:
    """Honcho's member read: messages, a message, members, context (from its own perspective), summaries and
    search of a session the peer is an active member of; nothing of another session; no writes."""
    base, owner = f"{auth_server.url}/v3/workspaces/rw", bearer(owner_token(auth_server))
    for session, peers in (("s-in", ("alice", "bob")), ("s-out", ("bob", "carol"))):
        messages = [{"peer_id": peer, "content": f"{peer} in {session}"} for peer in peers]
        assert httpx.post(f"{base}/sessions/{session}/messages", json={"messages": messages},
                          headers=owner).status_code == 201
    alice = bearer(apikeys.mint(SECRET, workspace="rw", peer="alice"))
    listed = httpx.post(f"{base}/sessions/s-in/messages/list", json={}, headers=alice)
    assert listed.status_code == 200 and [m["content"] for m in listed.json()["items"]] == ["alice in s-in", "bob in s-in"]
    for path in ("/sessions/s-in/peers", "/sessions/s-in/summaries", "/sessions/s-in/context",
                 "/sessions/s-in/context?peer_target=alice", "/sessions/s-in/context?peer_target=bob&peer_perspective=alice"):
        assert httpx.get(f"{base}{path}", headers=alice).status_code == 200, path
    assert httpx.post(f"{base}/sessions/s-in/search", json={"query": "bob"}, headers=alice).status_code == 200
    refused = [
        httpx.post(f"{base}/sessions/s-out/messages/list", json={}, headers=alice),
        httpx.get(f"{base}/sessions/s-out/context", headers=alice),
        httpx.get(f"{base}/sessions/s-in/context?peer_target=bob", headers=alice),  # bob's own view is bob's
        httpx.get(f"{base}/sessions/s-in/context?peer_target=alice&peer_perspective=bob", headers=alice),
        httpx.get(f"{base}/sessions/s-in/context?peer_target=alice&sessions=s-in&sessions=s-out", headers=alice),
        httpx.post(f"{base}/sessions/s-in/messages", json={"messages": [{"peer_id": "alice", "content": "x"}]},
                   headers=alice),  # member read is read only
        httpx.put(f"{base}/sessions/s-in", json={"metadata": {"x": 1}}, headers=alice),
    ]
    assert [r.status_code for r in refused] == [401] * len(refused), [r.text for r in refused]
    httpx.request("DELETE", f"{base}/sessions/s-in/peers", json=["alice"], headers=owner).raise_for_status()
    left = httpx.post(f"{base}/sessions/s-in/messages/list", json={}, headers=alice)
    assert left.status_code == 401  # once she has left, her key reads it no more


def test_a_scope_needs_a_workspace_key(auth_server: LiveServer) -> None:
    """Honcho's rule: a scope's sessions reach past any one peer's or session's, so a peer or session key naming
    a scope (a read's `scope`, the session context's `?scope=`, session create's `scopes`) is refused with 401
    and nothing is created; a workspace key reads through it."""
    base, owner = f"{auth_server.url}/v3/workspaces/sw", bearer(owner_token(auth_server))
    assert httpx.post(f"{base}/sessions/s1/messages", json={"messages": [{"peer_id": "alice", "content": "bees"}]},
                      headers=owner).status_code == 201
    assert httpx.post(f"{base}/scopes", json={"id": "work"}, headers=owner).status_code == 201
    assert httpx.post(f"{base}/scopes/work/sessions", json={"session_ids": ["s1"]}, headers=owner).status_code == 204
    narrow = {"peer": bearer(apikeys.mint(SECRET, workspace="sw", peer="alice")),
              "session": bearer(apikeys.mint(SECRET, workspace="sw", session="s1"))}
    requests = [("POST", "/peers/alice/representation", {"json": {"scope": "work"}}),
                ("POST", "/peers/alice/recall", {"json": {"query": "bees", "scope": ["work"]}}),
                ("POST", "/search", {"json": {"query": "bees", "scope": "work"}}),
                ("GET", "/sessions/s1/context", {"params": {"peer_target": "alice", "scope": "work"}}),
                ("POST", "/sessions", {"json": {"id": "s2", "scopes": ["new"]}}),
                ("POST", "/scopes/list", {})]
    for name, key in narrow.items():
        for method, path, kwargs in requests:
            r = httpx.request(method, base + path, headers=key, **kwargs)
            assert r.status_code == 401, (name, path, r.status_code, r.text)
    assert httpx.get(f"{base}/scopes/new", headers=owner).status_code == 404  # the refused create made nothing
    workspace_key = bearer(apikeys.mint(SECRET, workspace="sw"))
    for method, path, kwargs in requests[:4]:
        assert httpx.request(method, base + path, headers=workspace_key, **kwargs).status_code == 200, path
    # without a scope, the peer key reads its own representation as before
    assert httpx.post(f"{base}/peers/alice/representation", json={}, headers=narrow["peer"]).status_code == 200
