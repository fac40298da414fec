"""Every class of bad input gets a 4xx with a readable `detail` and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

JSON = {"Content-Type": "application/json"}


def snapshot(http: httpx.Client, workspace_id: str) -> dict[str, Any]:
    """Everything the API can show about a workspace (and the workspace list)."""
    w = f"/v3/workspaces/{workspace_id}"
    state: dict[str, Any] = {"workspaces": http.post("/v3/workspaces/list?size=100", headers=JSON).json()["total"]}
    state["peers"] = http.post(f"{w}/peers/list?size=100", headers=JSON).json()
    sessions = http.post(f"{w}/sessions/list?size=100", headers=JSON).json()
    state["sessions"] = sessions
    for s in sessions["items"]:
        sid = s["id"]
        state[f"messages:{sid}"] = http.post(f"{w}/sessions/{sid}/events/list?size=100", headers=JSON).json()
        state[f"members:{sid}"] = http.get(f"{w}/sessions/{sid}/peers", headers=JSON).json()
    return state


@pytest.fixture
def seeded(http: httpx.Client, workspace_id: str) -> str:
    w = f"/v3/workspaces/{workspace_id}"
    http.post(f"{w}/sessions", json={"id": "s", "peers": {"alice": {}}, "metadata": {"a": 1}})
    http.post(f"{w}/sessions/s/messages", json={"messages": [{"content": "hello", "peer_id": "alice"}]})
    return w


def assert_rejected(r: httpx.Response, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and words.lower() in detail.lower(), detail


def test_bad_ids(http: httpx.Client, workspace_id: str, seeded: str) -> None:
    before = snapshot(http, workspace_id)
    assert_rejected(http.post(f"{seeded}/peers", json={"id": "has space"}), 422, "id")
    assert_rejected(http.post(f"{seeded}/peers", json={"id": "x" * 513}), 422, "id")
    assert_rejected(http.post(f"{seeded}/sessions", json={"id": ""}), 422, "id")
    assert_rejected(http.post(f"{seeded}/sessions/bad.id/messages",
                              json={"messages": [{"content": "x", "peer_id": "alice"}]}), 422, "session_id")
    assert_rejected(http.post(f"{seeded}/sessions/s/messages",
                              json={"messages": [{"content": "x", "peer_id": "no/slash"}]}), 422, "peer_id")
    assert snapshot(http, workspace_id) == before


def test_oversize_content_rejects_whole_batch(http: httpx.Client, workspace_id: str, seeded: str) -> None:
    before = snapshot(http, workspace_id)
    batch = [{"content": "fine", "peer_id": "alice"}, {"content": "x" * 25_001, "peer_id": "bob"}]
    assert_rejected(http.post(f"{seeded}/sessions/s/messages", json={"messages": batch}), 422, "25000")
    assert snapshot(http, workspace_id) == before


def test_batch_size_limits(http: httpx.Client, workspace_id: str, seeded: str) -> None:
    before = snapshot(http, workspace_id)
    too_many = [{"content": f"m{i}", "peer_id": "alice"} for i in range(101)]
    assert_rejected(http.post(f"{seeded}/sessions/s/messages", json={"messages": too_many}), 422, "100")
    assert_rejected(http.post(f"{seeded}/sessions/s/messages", json={"messages": []}), 422, "messages")
    assert snapshot(http, workspace_id) == before


def test_malformed_json(http: httpx.Client, workspace_id: str, seeded: str) -> None:
    before = snapshot(http, workspace_id)
    r = http.post(f"{seeded}/sessions/s/messages", headers=JSON, content=b'{"messages": [')
    assert 400 <= r.status_code < 500 and "json" in r.json()["detail"].lower()
    r = http.post(f"{seeded}/peers", headers=JSON, content=b"not json")
    assert 400 <= r.status_code < 500 and r.json()["detail"]
    assert snapshot(http, workspace_id) == before


def test_unknown_filter_keys_and_operators(http: httpx.Client, workspace_id: str, seeded: str) -> None:
    before = snapshot(http, workspace_id)
    assert_rejected(http.post(f"{seeded}/sessions/s/messages/list", json={"filters": {"colour": "red"}}),
                    422, "unknown filter key")
    assert_rejected(http.post(f"{seeded}/peers/list", json={"filters": {"id": {"like": "a%"}}}),
                    422, "unknown operator")
    assert_rejected(http.post(f"{seeded}/sessions/list", json={"filters": {"OR": "x"}}), 422, "OR")
    assert_rejected(http.post(f"{seeded}/sessions/s/messages/list",
                              json={"filters": {"token_count": {"gte": "many"}}}), 422, "integer")
    assert snapshot(http, workspace_id) == before


def test_wrong_types(http: httpx.Client, workspace_id: str, seeded: str) -> None:
    before = snapshot(http, workspace_id)
    assert_rejected(http.post(f"{seeded}/peers", json={"id": 42}), 422, "id")
    assert_rejected(http.post(f"{seeded}/peers", json={"id": "p", "metadata": ["not", "a", "dict"]}), 422,
                    "metadata")
    assert_rejected(http.post(f"{seeded}/sessions/s/messages",
                              json={"messages": [{"content": 7, "peer_id": "alice"}]}), 422, "content")
    assert_rejected(http.post(f"{seeded}/sessions/s/messages",
                              json={"messages": [{"content": "x", "peer_id": "alice", "created_at": "yesterday"}]}),
                    422, "created_at")
    assert_rejected(http.post(f"{seeded}/peers", json={"id": "p", "configuration": {"observe_me": "yes"}}), 422,
                    "observe_me")
    assert_rejected(http.post(f"{seeded}/peers", json={"id": "p", "configuration": {"colour": "red"}}), 422,
                    "colour")
    deep = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
    assert_rejected(http.post(f"{seeded}/peers", json={"id": "p", "metadata": deep}), 422, "nested")
    assert_rejected(http.post(f"{seeded}/peers", json={"id": "p", "metadata": {f"k{i}": i for i in range(101)}}),
                    422, "100")
    assert_rejected(http.post(f"{seeded}/peers/list?size=500", headers=JSON), 422, "size")
    assert_rejected(http.post(f"{seeded}/peers/list?page=x", headers=JSON), 422, "page")
    assert snapshot(http, workspace_id) == before


def test_unknown_routes_404(http: httpx.Client, workspace_id: str, seeded: str) -> None:
    before = snapshot(http, workspace_id)
    assert_rejected(http.get("/v3/nothing-here", headers=JSON), 404, "not found")
    assert_rejected(http.post(f"{seeded}/sessions/s/frobnicate", json={}), 404, "not found")
    assert_rejected(http.get(f"{seeded}/sessions/missing/messages/abc", headers=JSON), 404, "missing")
    assert snapshot(http, workspace_id) == before


def test_wrong_methods_405(http: httpx.Client, workspace_id: str, seeded: str) -> None:
    before = snapshot(http, workspace_id)
    assert_rejected(http.get(f"{seeded}/sessions/s/messages", headers=JSON), 405, "method")
    assert_rejected(http.delete(f"{seeded}/sessions/s/messages"), 405, "method")
    assert_rejected(http.patch("/v3/workspaces", json={}), 405, "method")
    assert snapshot(http, workspace_id) == before
