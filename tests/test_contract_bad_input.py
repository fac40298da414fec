"""Issue 30 item 4: the hand-made bad-input cases that reached 500 or were accepted. Each answers its 4xx
with a readable `{"detail": ...}` naming what is wrong, and changes nothing the API can show.

Classes: JSON nested 10,000 levels (whole body, metadata, filters, search filters), `page` of 2^62 and
more on every list route, dates whose offset moves them out of the calendar in UTC (`created_at`,
filters, `as_of`), and ids with control characters or a trailing newline in the path, the query and
the body of every route that takes one.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.test_bad_input import snapshot

WS = "contract-ws"
W = f"/v3/workspaces/{WS}"
JSON = {"Content-Type": "application/json"}
DEEP_LIST = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000
LIST_ROUTES = [("POST", "/v3/workspaces/list"), ("POST", f"{W}/peers/list"), ("POST", f"{W}/sessions/list"),
               ("POST", f"{W}/sessions/s/messages/list"), ("POST", f"{W}/sessions/s/events/list"),
               ("POST", f"{W}/conclusions/list"), ("POST", f"{W}/peers/alice/sessions"),
               ("GET", f"{W}/sessions/s/peers")]
FILTER_ROUTES = [path for method, path in LIST_ROUTES if method == "POST"]
SEARCH_ROUTES = [f"{W}/search", f"{W}/sessions/s/search", f"{W}/peers/alice/search"]
OUT_OF_RANGE = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]
BAD_IDS = ["abc\n", "a\x00b", "a\tb", "a\rb", "abc\x7f", "a b"]


def case(label: str, method: str, path: str, status: int, words: str, *, body: Any = None, raw: str | None = None,
         params: dict[str, Any] | None = None) -> Any:
    content = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return pytest.param(method, path, content, params, status, words, id=label)


def deep_cases() -> list[Any]:
    bodies = [("POST", "/v3/workspaces"), ("POST", f"{W}/peers"), ("POST", f"{W}/sessions"),
              ("POST", f"{W}/sessions/s/messages"), ("POST", f"{W}/sessions/s/events"), ("POST", f"{W}/conclusions"),
              ("POST", f"{W}/conclusions/query"), ("POST", f"{W}/peers/alice/chat"),
              ("POST", f"{W}/peers/alice/representation"), ("PUT", f"{W}/peers/alice/card"),
              ("PUT", f"{W}/peers/alice"), ("POST", f"{W}/sessions/s/peers"), ("DELETE", f"{W}/sessions/s/peers")]
    out = [case(f"deep-body-{m}-{p}-{kind}", m, p, 400, "nested", raw=raw)
           for m, p in bodies for kind, raw in (("list", DEEP_LIST), ("object", DEEP_OBJECT))]
    metadata = [("POST", "/v3/workspaces", '{"id": "deep-ws", "metadata": {"a": %s}}'),
                ("POST", f"{W}/peers", '{"id": "deep-peer", "metadata": %s}'),
                ("PUT", f"{W}/sessions/s", '{"metadata": {"a": %s}}'),
                ("POST", f"{W}/sessions/s/messages", '{"messages": [{"peer_id": "alice", "content": "x", "metadata": %s}]}'),
                ("POST", f"{W}/sessions/s/messages",
                 '{"messages": [{"peer_id": "alice", "content": "x", "configuration": {"reasoning": {"x": %s}}}]}')]
    out += [case(f"deep-metadata-{m}-{p}-{i}", m, p, 400, "nested", raw=tpl % DEEP_OBJECT)
            for i, (m, p, tpl) in enumerate(metadata)]
    # 40 levels: decodable, valid for the pydantic models (free-form configuration keys), past the 32-level cap;
    # the first goes the fast path's way (api/fastpath.py), which must answer as Litestar does
    forty = '{"a":' * 40 + "1" + "}" * 40
    out += [case(f"deep40-configuration-{i}", m, p, 400, "nested", raw=tpl % forty) for i, (m, p, tpl) in enumerate([
        ("POST", f"{W}/sessions/s/messages",
         '{"messages": [{"peer_id": "alice", "content": "x", "configuration": {"reasoning": {"x": %s}}}]}'),
        ("PUT", f"{W}/sessions/s", '{"configuration": {"x": %s}}'),
        ("POST", "/v3/workspaces", '{"id": "deep40", "configuration": {"x": %s}}')])]
    out += [case(f"deep-filters-{p}", "POST", p, 400, "nested", raw='{"filters": {"AND": %s}}' % DEEP_LIST)
            for p in FILTER_ROUTES]
    out += [case(f"deep-search-filters-{p}", "POST", p, 400, "nested",
                 raw='{"query": "x", "filters": {"metadata": %s}}' % DEEP_OBJECT) for p in SEARCH_ROUTES]
    out.append(case("deep-chat-filters", "POST", f"{W}/peers/alice/chat", 400, "nested",
                    raw='{"query": "x", "filters": %s}' % DEEP_OBJECT))
    return out


def page_cases() -> list[Any]:
    return [case(f"page-2^{power}-{m}-{p}", m, p, 422, "page", params={"page": 2 ** power})
            for power in (62, 63, 64, 100) for m, p in LIST_ROUTES]


def date_cases() -> list[Any]:
    out = []
    for when in OUT_OF_RANGE:
        out.append(case(f"created_at-message-{when}", "POST", f"{W}/sessions/s/messages", 422, "created_at",
                        body={"messages": [{"peer_id": "alice", "content": "x", "created_at": when}]}))
        out.append(case(f"created_at-event-{when}", "POST", f"{W}/sessions/s/events", 422, "created_at",
                        body={"events": [{"kind": "custom", "peer_id": "alice", "content": "x", "created_at": when}]}))
        out += [case(f"filter-{when}-{p}", "POST", p, 422, "created_at",
                     body={"filters": {"created_at": {"gte": when}}}) for p in FILTER_ROUTES]
        out += [case(f"search-filter-{when}-{p}", "POST", p, 422, "created_at",
                     body={"query": "x", "filters": {"created_at": {"lte": when}}}) for p in SEARCH_ROUTES]
        out += [case(f"as_of-{when}-conclusions", "POST", f"{W}/conclusions/list", 422, "as_of", params={"as_of": when}),
                case(f"as_of-{when}-representation", "POST", f"{W}/peers/alice/representation", 422, "as_of",
                     body={"as_of": when})]
        out += [case(f"as_of-{when}-{p}", "GET", p, 422, "as_of", params={"as_of": when})
                for p in (f"{W}/sessions/s/context", f"{W}/sessions/s/summaries", f"{W}/peers/alice/card",
                          f"{W}/peers/alice/context")]
    return out


def id_cases() -> list[Any]:
    out = []
    for bad in BAD_IDS:
        enc, label = quote(bad, safe=""), repr(bad)
        out += [
            case(f"path-workspace-{label}", "POST", f"/v3/workspaces/{enc}/peers", 422, "workspace_id", body={"id": "p"}),
            case(f"path-session-{label}", "POST", f"{W}/sessions/{enc}/messages", 422, "session_id",
                 body={"messages": [{"peer_id": "alice", "content": "x"}]}),
            case(f"path-peer-{label}", "PUT", f"{W}/peers/{enc}", 422, "peer_id", body={"metadata": {}}),
            case(f"path-message-{label}", "GET", f"{W}/sessions/s/messages/{enc}", 422, "message_id"),
            case(f"path-conclusion-{label}", "DELETE", f"{W}/conclusions/{enc}", 422, "conclusion_id"),
            case(f"body-workspace-{label}", "POST", "/v3/workspaces", 422, "id", body={"id": bad}),
            case(f"body-peer-{label}", "POST", f"{W}/peers", 422, "id", body={"id": bad}),
            case(f"body-session-{label}", "POST", f"{W}/sessions", 422, "id", body={"id": bad}),
            case(f"body-message-peer-{label}", "POST", f"{W}/sessions/s/messages", 422, "peer_id",
                 body={"messages": [{"peer_id": bad, "content": "x"}]}),
            case(f"body-conclusion-observer-{label}", "POST", f"{W}/conclusions", 422, "observer_id",
                 body={"conclusions": [{"observer_id": bad, "observed_id": "alice", "content": "x"}]}),
            case(f"body-add-members-{label}", "POST", f"{W}/sessions/s/peers", 422, "peer_id", body={bad: {}}),
            case(f"body-set-members-{label}", "PUT", f"{W}/sessions/s/peers", 422, "peer_id",
                 body={"alice": {}, bad: {}}),
            case(f"body-remove-members-{label}", "DELETE", f"{W}/sessions/s/peers", 422, "peer_id", body=[bad]),
            case(f"query-target-{label}", "GET", f"{W}/peers/alice/card", 422, "target", params={"target": bad}),
            case(f"query-peer_target-{label}", "GET", f"{W}/sessions/s/context", 422, "peer_target",
                 params={"peer_target": bad}),
            case(f"query-observer-{label}", "GET", f"{W}/queue/status", 422, "observer_id", params={"observer_id": bad}),
            case(f"query-clone-message-{label}", "POST", f"{W}/sessions/s/clone", 422, "message_id",
                 params={"message_id": bad}),
        ]
    return out


CASES = deep_cases() + page_cases() + date_cases() + id_cases()


@pytest.fixture(scope="module")
def seeded(server) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.post(f"{W}/sessions", json={"id": "s", "peers": {"alice": {}}}).status_code == 201
        assert client.post(f"{W}/sessions/s/messages",
                           json={"messages": [{"content": "hello", "peer_id": "alice"}]}).status_code == 201
        assert client.post(f"{W}/conclusions", json={"conclusions": [
            {"observer_id": "alice", "observed_id": "alice", "content": "Alice says hello"}]}).status_code == 201


def everything(http: httpx.Client) -> dict[str, Any]:
    state = snapshot(http, WS)
    state["conclusions"] = http.post(f"{W}/conclusions/list", headers=JSON).json()
    state["card"] = http.get(f"{W}/peers/alice/card").json()
    return state


def test_the_case_list_covers_every_class() -> None:
    labels = [p.id for p in CASES]
    assert len(labels) == len(set(labels)) and len(labels) >= 200
    for prefix in ("deep-body", "deep-metadata", "deep-filters", "deep-search-filters", "page-2^62", "created_at",
                   "filter-", "as_of", "path-", "body-", "query-"):
        assert any(label.startswith(prefix) for label in labels), prefix


@pytest.mark.parametrize("method, path, content, params, status, words", CASES)
def test_bad_input_is_a_clear_4xx_and_changes_nothing(http: httpx.Client, seeded: None, method: str, path: str,
                                                      content: str | None, params: dict | None, status: int,
                                                      words: str) -> None:
    before = everything(http)
    r = http.request(method, path, content=content, params=params, headers=JSON if content is not None else None)
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert isinstance(detail, str) and words.lower() in detail.lower(), detail
    assert everything(http) == before


@pytest.mark.parametrize("garbage", [b"hello, this is not a database\n", bytes(range(256)) * 1024, b"\0" * 300_000],
                         ids=["text", "bytes", "zeros"])
def test_serve_on_a_garbage_store_file_is_one_line_with_the_fix(tmp_path, garbage: bytes) -> None:
    """`honcho-local serve` on a honcho.duckdb that is not a DuckDB file: exit 1, one line on stderr naming
    the file, what is wrong and what to do (restore from a backup), no traceback. (tests/test_faults.py
    covers a damaged header and a damaged WAL.)"""
    import subprocess
    import sys

    from tests.conftest import CLIENT_TIMEOUT_S, REPO_ROOT

    home = tmp_path / "home"
    home.mkdir()
    db = home / "honcho.duckdb"
    db.write_bytes(garbage)
    done = subprocess.run([sys.executable, "-m", "honcho_local.cli", "serve", "--home", str(home), "--port", "0"],
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, cwd=str(REPO_ROOT), check=False)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr + done.stdout, done.stderr
    assert str(db) in lines[0] and "not a valid DuckDB database file" in lines[0]
    assert "restore it from a backup" in lines[0] and "honcho-local restore" in lines[0]
    assert db.read_bytes() == garbage  # left as it was, for whoever investigates
