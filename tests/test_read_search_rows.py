"""Search rows come from an in-memory copy of the log's messages (`store/message_rows.py`): it must
follow appends, metadata updates, session and workspace deletes (log positions are never reused
after one), and the scope checks must notice a deleted session or workspace."""

from __future__ import annotations

import pytest

from tests.conftest import post_messages

pytestmark = pytest.mark.model
W = "/v3/workspaces/ws"


def _add(client, session: str, items: list[tuple[str, str]]) -> list[dict]:
    return post_messages(client, W, session, items)


def _search(client, query: str, path: str = "") -> list[dict]:
    r = client.post(f"{W}{path}/search", json={"query": query})
    assert r.status_code == 200, r.text
    return r.json()


def test_search_rows_follow_appends_updates_and_deletes(read_app) -> None:
    services, client = read_app
    first = _add(client, "s1", [("alice", "zebra crossing downtown")])[0]
    _add(client, "s2", [("bob", "zebra stripes are unique")])
    assert {h["session_id"] for h in _search(client, "zebra")} == {"s1", "s2"}
    assert [h["content"] for h in _search(client, "zebra", "/sessions/s1")] == ["zebra crossing downtown"]
    assert [h["peer_id"] for h in _search(client, "zebra", "/peers/bob")] == ["bob"]

    loads = services.search.rows.loads
    r = client.put(f"{W}/sessions/s1/messages/{first['id']}", json={"metadata": {"tag": "x"}})
    assert r.status_code == 200, r.text
    assert next(h for h in _search(client, "zebra") if h["id"] == first["id"])["metadata"] == {"tag": "x"}
    assert services.search.rows.loads == loads  # the updated row was re-read alone, not the whole copy
    assert services.store.feed.event_updates == 1

    _add(client, "s1", [("alice", "a later zebra sighting")])  # appended after rows were loaded
    assert len(_search(client, "zebra", "/sessions/s1")) == 2

    high = services.store.read(lambda cur: cur.execute("SELECT max(pk) FROM events").fetchone()[0])
    assert client.delete(f"{W}/sessions/s2").status_code == 202
    assert {h["session_id"] for h in _search(client, "zebra")} == {"s1"}
    assert client.post(f"{W}/sessions/s2/search", json={"query": "zebra"}).status_code == 404

    assert client.delete(f"{W}/sessions/s1").status_code == 202
    assert client.delete(W).status_code == 202
    assert client.post(f"{W}/peers/alice/search", json={"query": "zebra"}).status_code == 404
    # Log positions of deleted messages are never given out again: the deleted texts still in the
    # lexical index match nothing new (the reply after the new zebra message is found by its context).
    added = _add(client, "s3", [("carol", "zebra documentary tonight"), ("carol", "nothing striped here")])
    assert len(added) == 2 and services.store.read(lambda cur: cur.execute(
        "SELECT min(pk) FROM events").fetchone()[0]) > high
    hits = _search(client, "zebra")
    assert [(h["session_id"], h["content"]) for h in hits] == [("s3", "zebra documentary tonight"),
                                                                ("s3", "nothing striped here")]
    assert services.store.feed.mutations == 3


def test_search_rows_start_over_when_updates_overflow(read_app) -> None:
    import collections

    services, client = read_app
    services.store.feed.updated_events = collections.deque(maxlen=2)  # the store keeps only the newest two
    msgs = _add(client, "s", [("alice", f"walrus number {i}") for i in range(3)])
    assert len(_search(client, "walrus")) == 3
    loads = services.search.rows.loads
    for i, m in enumerate(msgs):
        r = client.put(f"{W}/sessions/s/messages/{m['id']}", json={"metadata": {"n": i}})
        assert r.status_code == 200, r.text
    assert {h["id"]: h["metadata"] for h in _search(client, "walrus")} == {m["id"]: {"n": i} for i, m in enumerate(msgs)}
    assert services.search.rows.loads == loads + 1  # three updates, two kept: the copy was loaded again


def test_warm_searches_answer_without_blocking(read_app) -> None:
    """A warm search needs no DuckDB query (`Store.cursors_taken` stays put), and a message just written
    is found without waiting for the lexical indexer: its row joins the in-memory copy at the commit and
    the index's tail is scored from memory."""
    services, client = read_app
    store = services.store
    _add(client, "s1", [("alice", "walrus on the beach")])
    for path in ("", "/sessions/s1", "/peers/alice"):
        assert [h["content"] for h in _search(client, "walrus", path)] == ["walrus on the beach"]
    before = store.cursors_taken
    for scope in ({}, {"session_id": "s1"}, {"peer_id": "alice"}):
        hits = services.search.search("ws", "walrus", **scope)
        assert [h["content"] for h in hits] == ["walrus on the beach"]
    assert store.cursors_taken == before
    loads = services.search.rows.loads
    _add(client, "s1", [("bob", "another walrus swims by")])
    assert len(services.search.search("ws", "walrus")) == 2
    assert services.search.rows.loads == loads  # the new row came with the commit, not from a query
    for _ in range(3):  # the worker's commits may make the vector side want a refresh (a query) first
        before = store.cursors_taken
        assert len(services.search.search("ws", "walrus")) == 2
        if store.cursors_taken == before:
            break
    else:
        raise AssertionError("a warm search kept needing a query")
