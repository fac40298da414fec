"""Scopes (Honcho 3.1+; issue 35) against a live server, driven by the official honcho-ai SDK where it can send
the request and raw HTTP otherwise: Honcho's seven scope routes with its shapes and status codes, and every
read naming a scope confined to the scope's member sessions (representation, session context, workspace
search, recall; chat is in tests/test_workspace_chat.py): a list of scopes is the union of their members, a
scope without members recalls nothing, a scope that does not exist is a 404, and a scope beside `filters` or
`session_id` is a 422. Also: session create's `scopes`, deletes taking memberships and scopes with them,
peer listing's `kind`, and the session context's `sessions` allowlist."""

from __future__ import annotations

import pytest
from honcho.http.exceptions import NotFoundError


@pytest.fixture
def seeded(honcho, http, workspace_id):
    """alice's bees (session s1) and cat (s2), each a message and a conclusion; no reasoning, so the
    conclusions are exactly these."""
    alice, bob = honcho.peer("alice"), honcho.peer("bob")
    s1, s2 = honcho.session("s1"), honcho.session("s2")
    s1.add_messages([alice.message("I keep bees on my roof in Lisbon"), bob.message("bees? nice")])
    s2.add_messages([alice.message("my cat Miso sleeps on the piano")])
    r = http.post(f"/v3/workspaces/{workspace_id}/conclusions", json={"conclusions": [
        {"content": "alice keeps bees", "observer_id": "alice", "observed_id": "alice", "session_id": "s1"},
        {"content": "alice has a cat named Miso", "observer_id": "alice", "observed_id": "alice",
         "session_id": "s2"}]})
    assert r.status_code == 201, r.text
    return alice, bob, s1, s2


def test_scope_routes_with_the_sdk(honcho, http, workspace_id, seeded):
    w = f"/v3/workspaces/{workspace_id}/scopes"
    created = http.post(w, json={"id": "work", "metadata": {"team": "bees"}})
    assert created.status_code == 201 and created.json()["id"] == "work" and created.json()["metadata"] == {"team": "bees"}
    again = http.post(w, json={"id": "work", "metadata": {"team": "other"}})
    assert again.status_code == 200 and again.json() == created.json()  # get: the scope as it was
    work = honcho.scope("work")
    assert work.id == "work" and honcho.get_scope("work").metadata == {"team": "bees"}
    honcho.scope("home")
    assert [s.id for s in honcho.scopes()] == ["work", "home"]
    work.add_sessions(["s1", "s2"])
    work.add_sessions(["s1"])  # already a member: unchanged
    assert [s.id for s in work.sessions()] == ["s1", "s2"]
    assert [s.id for s in work.sessions(reverse=True)] == ["s2", "s1"]  # joined together: by id
    status = work.status()
    assert set(status) == {"s1", "s2"} and {job.state for job in status.values()} == {"completed"}
    assert {k: v.docs_copied for k, v in status.items()} == {"s1": 1, "s2": 1}
    work.remove_session("s2")
    assert [s.id for s in work.sessions()] == ["s1"] and set(work.status()) == {"s1"}
    with pytest.raises(NotFoundError):
        honcho.get_scope("nowhere")
    with pytest.raises(NotFoundError):
        honcho.scope("work").add_sessions(["no-such-session"])
    assert [s.id for s in work.sessions()] == ["s1"]  # the failed add changed nothing
    bad = [("POST", w, {"id": "scope.x"}), ("POST", w, {"id": ""}), ("POST", f"{w}/work/sessions", {"session_ids": []}),
           ("POST", f"{w}/work/sessions", {"session_ids": [f"s{i}" for i in range(101)]})]
    for method, path, body in bad:
        r = http.request(method, path, json=body)
        assert r.status_code == 422 and r.json()["detail"], (body, r.text)
    for method, path in (("GET", f"{w}/nowhere"), ("POST", f"{w}/nowhere/sessions/list"), ("GET", f"{w}/nowhere/status"),
                         ("DELETE", f"{w}/nowhere/sessions/s1")):
        r = http.request(method, path)
        assert r.status_code == 404 and "scope 'nowhere'" in r.json()["detail"], (path, r.text)


def test_reads_naming_a_scope_are_confined_to_its_sessions(honcho, http, workspace_id, seeded):
    alice, _, s1, _ = seeded
    honcho.scope("work").add_sessions(["s1"])
    honcho.scope("pets").add_sessions(["s2"])
    honcho.scope("empty")
    everything = alice.representation()
    assert "bees" in everything and "Miso" in everything
    work = alice.representation(scope="work")
    assert "bees" in work and "Miso" not in work
    both = alice.representation(scope=["work", "pets"])
    assert "bees" in both and "Miso" in both
    assert "bees" not in alice.representation(scope="empty") and "Miso" not in alice.representation(scope="empty")
    # the session context: the target's representation read from the scope's sessions, no card
    confined = s1.context(peer_target="alice", scope="pets", summary=False)
    assert "Miso" in str(confined.peer_representation) and "bees" not in str(confined.peer_representation)
    assert confined.peer_card is None
    # workspace search: the scope's member sessions only; an empty scope matches nothing
    assert {m.session_id for m in honcho.search("bees cat Miso roof", scope="work")} == {"s1"}
    assert {m.session_id for m in honcho.search("bees cat Miso roof", scope="pets")} == {"s2"}
    assert honcho.search("bees cat Miso roof", scope="empty") == []
    # recall (honcho-local's chat retrieval without the model)
    w = f"/v3/workspaces/{workspace_id}"
    recalled = http.post(f"{w}/peers/alice/recall", json={"query": "pets and hobbies", "scope": "pets"}).json()
    assert {c["session_id"] for c in recalled["conclusions"]} == {"s2"}
    assert {m["session_id"] for m in recalled["messages"]} <= {"s2"} and recalled["peer_card"] is None


def test_scope_refusals_change_nothing(honcho, http, workspace_id, seeded):
    alice, _, s1, _ = seeded
    honcho.scope("work").add_sessions(["s1"])
    with pytest.raises(NotFoundError):
        alice.representation(scope="nowhere")
    with pytest.raises(NotFoundError):
        honcho.search("bees", scope="nowhere")
    w = f"/v3/workspaces/{workspace_id}"
    bad = [
        ("POST", f"{w}/peers/alice/representation", {"json": {"scope": "work", "session_id": "s1"}}, "mutually exclusive"),
        ("POST", f"{w}/peers/alice/representation", {"json": {"scope": "work", "filters": {"session_id": "s1"}}},
         "mutually exclusive"),
        ("POST", f"{w}/peers/alice/representation", {"json": {"scope": []}}, "scope"),
        ("POST", f"{w}/peers/alice/representation", {"json": {"scope": [f"x{i}" for i in range(101)]}}, "scope"),
        ("POST", f"{w}/search", {"json": {"query": "bees", "scope": "work", "filters": {"session_id": "s1"}}},
         "mutually exclusive"),
        ("POST", f"{w}/search", {"json": {"query": "bees", "scope": ["work"]}}, "scope"),  # one scope here
        ("GET", f"{w}/sessions/s1/context", {"params": {"scope": "work"}}, "peer_target"),
        ("GET", f"{w}/sessions/s1/context", {"params": {"scope": "work", "peer_target": "alice",
                                                         "peer_perspective": "bob"}}, "mutually exclusive"),
        ("POST", f"{w}/sessions/s1/search", {"json": {"query": "bees", "scope": "work"}}, "workspace search"),
        ("POST", f"{w}/peers/alice/search", {"json": {"query": "bees", "scope": "work"}}, "workspace search"),
        ("GET", f"{w}/peers/alice/context", {"params": {"scope": "work"}}, "workspace search"),
    ]
    for method, path, kwargs, words in bad:
        r = http.request(method, path, **kwargs)
        assert r.status_code == 422 and words in r.json()["detail"], (path, kwargs, r.status_code, r.text)
    assert http.post(f"{w}/sessions/s1/search", json={"query": "bees", "scope": None}).status_code == 200
    assert [s.id for s in honcho.scope("work").sessions()] == ["s1"]


def test_session_create_joins_scopes_and_deletes_take_memberships(honcho, http, workspace_id, seeded):
    honcho.session("s3", scopes=["team", "work"])
    assert [s.id for s in honcho.scope("team").sessions()] == ["s3"]
    assert [s.id for s in honcho.scope("work").sessions()] == ["s3"]
    honcho.session("s3", scopes=[])  # no scope named: the session as it was
    honcho.scope("work").add_sessions(["s1"])
    w = f"/v3/workspaces/{workspace_id}"
    assert http.delete(f"{w}/sessions/s3").status_code == 202
    assert [s.id for s in honcho.scope("team").sessions()] == []
    assert [s.id for s in honcho.scope("work").sessions()] == ["s1"]
    assert set(honcho.scope("work").status()) == {"s1"}
    for session in ("s1", "s2"):  # a workspace with active sessions is not deleted (409)
        assert http.delete(f"{w}/sessions/{session}").status_code == 202
    assert http.delete(w).status_code in (200, 202, 204)
    assert http.post("/v3/workspaces", json={"id": workspace_id}).status_code == 201  # the same id again
    assert http.get(f"{w}/scopes/work").status_code == 404
    assert http.post(f"{w}/scopes/list").json()["items"] == []


def test_peer_listing_kind(http, workspace_id, seeded):
    w = f"/v3/workspaces/{workspace_id}"
    http.post(f"{w}/scopes", json={"id": "work"})
    ids = lambda body: [p["id"] for p in http.post(f"{w}/peers/list", json=body).json()["items"]]  # noqa: E731
    assert ids({}) == ids({"kind": "all"}) == ["alice", "bob"]
    assert ids({"kind": "scope"}) == []  # scopes are not peers here: the scope routes list them
    r = http.post(f"{w}/peers/list", json={"kind": "agents"})
    assert r.status_code == 422 and "kind" in r.json()["detail"]


def test_session_context_session_allowlist(honcho, http, workspace_id, seeded):
    """`sessions` on the session context (the SDK's repeated query parameter) is honoured, never ignored."""
    alice, _, session, _ = seeded
    w = f"/v3/workspaces/{workspace_id}"
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
