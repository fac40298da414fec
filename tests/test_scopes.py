"""Scopes (Honcho 3.1+) are refused, never silently ignored (issue 35): every request naming a scope
answers a clear 4xx `{"detail": ...}` and changes nothing, and Honcho's scope routes answer 501 with a
detail. The same requests without the scope succeed, so each refusal is the scope's doing. Driven with the
official honcho-ai SDK where it can send the request, raw HTTP otherwise, against a live server."""

from __future__ import annotations

import pytest
from honcho.http.exceptions import APIError, UnprocessableEntityError

NOT_SUPPORTED = "scopes are not supported yet by honcho-local"


@pytest.fixture
def seeded(honcho, http, workspace_id):
    """alice and bob in session s1 with two messages (no reasoning: recall answers from what is stored)."""
    alice, bob = honcho.peer("alice"), honcho.peer("bob")
    session = honcho.session("s1")
    session.add_messages([alice.message("I keep bees in Lisbon"), bob.message("bees? nice")])
    return alice, bob, session


def _refused(call) -> str:
    with pytest.raises(UnprocessableEntityError) as info:
        call()
    assert NOT_SUPPORTED in str(info.value)
    return str(info.value)


def test_sdk_reads_naming_a_scope_are_refused(honcho, seeded):
    alice, _, session = seeded
    # the same calls without a scope answer
    assert honcho.search("bees")
    alice.representation()
    session.context(peer_target="alice", summary=False)
    _refused(lambda: honcho.search("bees", scope="work"))
    _refused(lambda: alice.representation(scope="work"))
    _refused(lambda: alice.representation(scope=["work", "home"]))
    _refused(lambda: session.context(peer_target="alice", scope="work"))
    # chat is refused before retrieval or any model call (the server runs without reasoning)
    _refused(lambda: alice.chat("where does alice live?", scope="work"))
    _refused(lambda: alice.chat("where does alice live?", scope=["work"]))
    _refused(lambda: honcho.chat("who keeps bees?", scope="work"))


def test_sdk_session_create_with_scopes_is_refused_and_stores_nothing(honcho, seeded):
    detail = _refused(lambda: honcho.session("s2", scopes=["work"]))
    assert "`scopes`" in detail
    assert [s.id for s in honcho.sessions()] == ["s1"]
    assert [s.id for s in honcho.peers()] == ["alice", "bob"]
    honcho.session("s3", scopes=[])  # no scope named: an ordinary create
    assert sorted(s.id for s in honcho.sessions()) == ["s1", "s3"]


def test_sdk_scope_routes_answer_501(honcho, seeded):
    _, _, session = seeded
    for call in (lambda: honcho.scope("work"), lambda: honcho.get_scope("work"), lambda: list(honcho.scopes())):
        with pytest.raises(APIError) as info:
            call()
        assert info.value.status == 501 and NOT_SUPPORTED in str(info.value)


def test_raw_http_scope_surfaces(http, workspace_id, seeded):
    w = f"/v3/workspaces/{workspace_id}"
    refused = [
        ("GET", f"{w}/peers/alice/context", {"params": {"scope": "work"}}),
        ("POST", f"{w}/sessions/s1/search", {"json": {"query": "bees", "scope": "work"}}),
        ("POST", f"{w}/peers/alice/search", {"json": {"query": "bees", "scope": "work"}}),
        ("POST", f"{w}/peers/alice/recall", {"json": {"query": "bees", "scope": "work"}}),
        ("POST", f"{w}/peers/alice/chat", {"json": {"query": "bees", "scope": "work", "stream": True}}),
        ("POST", f"{w}/chat", {"json": {"query": "bees", "scope": ["work"], "stream": True}}),
        ("POST", f"{w}/sessions", {"json": {"id": "s9", "scopes": ["work"]}}),
    ]
    for method, path, kwargs in refused:
        r = http.request(method, path, **kwargs)
        assert r.status_code == 422 and NOT_SUPPORTED in r.json()["detail"], (path, r.status_code, r.text)
    scope_routes = [("POST", f"{w}/scopes", {"json": {"id": "work"}}), ("POST", f"{w}/scopes/list", {}),
                    ("GET", f"{w}/scopes/work", {}),
                    ("POST", f"{w}/scopes/work/sessions", {"json": {"session_ids": ["s1"]}}),
                    ("DELETE", f"{w}/scopes/work/sessions/s1", {}), ("POST", f"{w}/scopes/work/sessions/list", {}),
                    ("GET", f"{w}/scopes/work/status", {})]
    for method, path, kwargs in scope_routes:
        r = http.request(method, path, **kwargs)
        assert r.status_code == 501 and NOT_SUPPORTED in r.json()["detail"], (path, r.status_code, r.text)
    # an explicit null names no scope
    assert http.post(f"{w}/sessions/s1/search", json={"query": "bees", "scope": None}).status_code == 200
    assert http.get(f"{w}/sessions/s9").status_code in (404, 405)  # never created
    listed = http.post(f"{w}/sessions/list").json()["items"]
    assert [s["id"] for s in listed] == ["s1"]


def test_peer_listing_kind(http, workspace_id, seeded):
    w = f"/v3/workspaces/{workspace_id}"
    ids = lambda body: [p["id"] for p in http.post(f"{w}/peers/list", json=body).json()["items"]]  # noqa: E731
    assert ids({}) == ids({"kind": "all"}) == ["alice", "bob"]
    assert ids({"kind": "scope"}) == []  # there are no scope peers
    r = http.post(f"{w}/peers/list", json={"kind": "agents"})
    assert r.status_code == 422 and "kind" in r.json()["detail"]


def test_session_context_session_allowlist(honcho, http, workspace_id, seeded):
    """`sessions` on the session context (the SDK's repeated query parameter) is honoured, never ignored."""
    alice, bob, session = seeded
    w = f"/v3/workspaces/{workspace_id}"
    other = honcho.session("s2")
    other.add_messages([alice.message("my cat is called Miso")])
    r = http.post(f"{w}/conclusions", json={"conclusions": [
        {"content": "alice keeps bees", "observer_id": "alice", "observed_id": "alice", "session_id": "s1"},
        {"content": "alice has a cat named Miso", "observer_id": "alice", "observed_id": "alice",
         "session_id": "s2"}]})
    assert r.status_code == 201, r.text
    everything = session.context(peer_target="alice", summary=False)
    assert "bees" in str(everything.peer_representation) and "Miso" in str(everything.peer_representation)
    confined = session.context(peer_target="alice", sessions=["s1"], summary=False)
    assert "bees" in str(confined.peer_representation) and "Miso" not in str(confined.peer_representation)
    assert confined.peer_card is None  # a card carries no per-session provenance (as Honcho)
    bad = [({"sessions": "s2", "peer_target": "alice"}, "must include this session"),
           ({"sessions": "s1"}, "peer_target"),
           ({"sessions": "s1", "peer_target": "alice", "limit_to_session": "true"}, "mutually exclusive")]
    for params, words in bad:
        r = http.get(f"{w}/sessions/s1/context", params=params)
        assert r.status_code == 422 and words in r.json()["detail"], (params, r.text)
    # the representation's allowlist (the SDK's sessions=): honoured; any other filter key refused, not dropped
    confined = alice.representation(sessions=["s1"])
    assert "bees" in confined and "Miso" not in confined
    r = http.post(f"{w}/peers/alice/representation", json={"filters": {"peer_id": "bob"}})
    assert r.status_code == 422 and "only 'session_id'" in r.json()["detail"]
