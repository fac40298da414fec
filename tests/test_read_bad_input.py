"""Bad input on the read path: 404 for unknown peers/sessions, 422 for disallowed filters and
out-of-range numbers, every answer `{"detail": "<readable string>"}`, nothing changed."""

from __future__ import annotations

import httpx
import pytest


def rejected(r: httpx.Response, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and words.lower() in detail.lower(), detail


@pytest.fixture
def w(read_http: httpx.Client, workspace_id: str) -> str:
    base = f"/v3/workspaces/{workspace_id}"
    read_http.post(f"{base}/sessions/s/messages", json={"messages": [{"peer_id": "alice", "content": "hello"}]})
    r = read_http.post(f"{base}/conclusions", json={"conclusions": [
        {"observer_id": "alice", "observed_id": "alice", "content": "Alice says hello"}]})
    assert r.status_code == 201
    return base


def test_unknown_target_peer_is_404(read_http: httpx.Client, w: str) -> None:
    rejected(read_http.get(f"{w}/sessions/s/context", params={"peer_target": "ghost"}), 404, "ghost")
    rejected(read_http.get(f"{w}/sessions/s/context", params={"peer_target": "alice", "peer_perspective": "ghost"}),
             404, "ghost")
    rejected(read_http.post(f"{w}/peers/alice/representation", json={"target": "ghost"}), 404, "ghost")
    rejected(read_http.get(f"{w}/peers/alice/card", params={"target": "ghost"}), 404, "ghost")
    rejected(read_http.put(f"{w}/peers/alice/card", params={"target": "ghost"}, json={"peer_card": ["x"]}), 404,
             "ghost")
    rejected(read_http.get(f"{w}/peers/alice/context", params={"target": "ghost"}), 404, "ghost")
    rejected(read_http.post(f"{w}/peers/alice/chat", json={"query": "hi", "target": "ghost"}), 404, "ghost")
    rejected(read_http.post(f"{w}/peers/alice/chat", json={"query": "hi", "session_id": "nope"}), 404, "nope")
    rejected(read_http.get(f"{w}/sessions/nope/context"), 404, "nope")
    rejected(read_http.get(f"{w}/sessions/nope/summaries"), 404, "nope")
    rejected(read_http.post(f"{w}/sessions/nope/search", json={"query": "x"}), 404, "nope")
    rejected(read_http.post(f"{w}/peers/ghost/search", json={"query": "x"}), 404, "ghost")
    rejected(read_http.get(f"{w}/conclusions/AAAAAAAAAAAAAAAAAAAAA"), 404, "not found")
    rejected(read_http.delete(f"{w}/conclusions/AAAAAAAAAAAAAAAAAAAAA"), 404, "not found")


def test_disallowed_filters_are_422(read_http: httpx.Client, w: str) -> None:
    rejected(read_http.post(f"{w}/search", json={"query": "x", "filters": {"password": 1}}), 422, "unknown filter key")
    rejected(read_http.post(f"{w}/search", json={"query": "x", "filters": {"peer_id": {"near": "a"}}}), 422,
             "unknown operator")
    rejected(read_http.post(f"{w}/conclusions/list", json={"filters": {"embedding": [1]}}), 422, "unknown filter key")
    rejected(read_http.post(f"{w}/conclusions/list", json={"filters": {"level": "gossip"}}), 422, "level must be")
    rejected(read_http.post(f"{w}/conclusions/query", json={"query": "x", "filters": {"observer_id": "alice"}}),
             422, "observed_id")
    rejected(read_http.post(f"{w}/conclusions/query", json={"query": "x"}), 422, "observer_id")


@pytest.mark.parametrize("params, words", [
    ({"tokens": 0}, "tokens"), ({"tokens": 10**9}, "tokens"), ({"tokens": "many"}, "tokens"),
    ({"peer_target": "alice", "search_top_k": 101, "search_query": "x"}, "search_top_k"),
    ({"peer_target": "alice", "search_max_distance": 1.5}, "search_max_distance"),
    ({"peer_target": "alice", "max_conclusions": 0}, "max_conclusions"),
    ({"peer_perspective": "alice"}, "peer_target"),
    ({"as_of": "yesterday"}, "as_of"),
])
def test_context_out_of_range_is_422(read_http: httpx.Client, w: str, params: dict, words: str) -> None:
    rejected(read_http.get(f"{w}/sessions/s/context", params=params), 422, words)


def test_numbers_out_of_range_are_422_and_change_nothing(read_http: httpx.Client, w: str) -> None:
    before = read_http.post(f"{w}/conclusions/list").json()
    q = {"query": "x", "filters": {"observer_id": "alice", "observed_id": "alice"}}
    rejected(read_http.post(f"{w}/conclusions/query", json={**q, "top_k": 0}), 422, "top_k")
    rejected(read_http.post(f"{w}/conclusions/query", json={**q, "top_k": 101}), 422, "top_k")
    rejected(read_http.post(f"{w}/conclusions/query", json={**q, "distance": 2}), 422, "distance")
    rejected(read_http.post(f"{w}/search", json={"query": "x", "limit": 0}), 422, "limit")
    rejected(read_http.post(f"{w}/search", json={"query": "x", "limit": 101}), 422, "limit")
    rejected(read_http.post(f"{w}/search", json={"query": ""}), 422, "query")
    rejected(read_http.post(f"{w}/peers/alice/representation", json={"max_conclusions": 500}), 422, "max_conclusions")
    rejected(read_http.post(f"{w}/peers/alice/chat", json={"query": "hi", "reasoning_level": "ultra"}), 422,
             "reasoning_level")
    rejected(read_http.post(f"{w}/peers/alice/chat", json={"query": "hi", "response_format": {"type": "array"}}),
             422, "response_format")
    rejected(read_http.post(f"{w}/peers/alice/chat", json={"query": ""}), 422, "query")
    rejected(read_http.post(f"{w}/conclusions", json={"conclusions": []}), 422, "conclusions")
    rejected(read_http.post(f"{w}/conclusions", json={"conclusions": [
        {"observer_id": "alice", "observed_id": "alice", "content": "valid"},
        {"observer_id": "alice", "observed_id": "alice", "content": "x", "session_id": "missing"}]}), 404, "missing")
    rejected(read_http.put(f"{w}/peers/alice/card", json={"peer_card": "not a list"}), 422, "peer_card")
    assert read_http.post(f"{w}/conclusions/list").json() == before
    assert read_http.get(f"{w}/peers/alice/card").json() == {"peer_card": None}
