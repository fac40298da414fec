"""The read cache drops only what a commit touched (`WriteContext.touch`, `Store.changes_since`):
on a real DuckDB file, then through a live server (the cache's own counters at /metrics)."""

from __future__ import annotations

import collections
import re

import httpx
import pytest

from honcho_local.services.readcache import ReadCache
from honcho_local.services.views import iso
from honcho_local.store import Store, WriteContext, log_tag, peer_tag, ws_tag
from honcho_local.store import conclusions as conclusions_db
from honcho_local.store import events as event_log
from honcho_local.store import peers as peers_db
from honcho_local.store import sessions as sessions_db
from honcho_local.store import workspaces as workspaces_db
from tests.conftest import start_server, stop_server


def _post(store: Store, ws: str, session: str, text: str) -> None:
    def op(ctx: WriteContext) -> None:
        workspaces_db.ensure_workspace(ctx, ws)
        sessions_db.ensure_session(ctx, ws, session)
        peers_db.ensure_peer(ctx, ws, "alice")
        event_log.append(ctx, ws, session, [event_log.NewEvent("alice", text, "message", {}, None, 3, None)])

    store.write(op, scoped=True)


def test_changes_since_reports_what_scoped_commits_touched(store: Store) -> None:
    _post(store, "w", "a", "first")  # creates the workspace, session and peer: a workspace-wide change
    start = store.feed.commits
    newest, changed = store.changes_since(start - 1)
    assert newest == start and changed == {ws_tag("w"), log_tag("w", "a")}
    _post(store, "w", "b", "hello")
    _post(store, "w", "a", "again")
    assert store.changes_since(start) == (start + 2, {ws_tag("w"), log_tag("w", "b"), log_tag("w", "a")})
    assert store.changes_since(start + 1) == (start + 2, {log_tag("w", "a")})  # session a existed already
    assert store.changes_since(start + 2) == (start + 2, frozenset())
    store.write(lambda ctx: ctx.conn.execute("UPDATE sessions SET metadata = '{}'"))  # not scoped: anything
    assert store.changes_since(start + 2) == (start + 3, None)
    assert store.changes_since(start + 3) == (start + 3, frozenset())
    store.write(lambda ctx: None, scoped=True)  # a scoped write that touched nothing cached
    assert store.changes_since(start + 3) == (start + 4, frozenset())
    store.feed.touched = collections.deque(store.feed.touched, maxlen=2)  # history older than what is kept: unknown
    _post(store, "w", "a", "more")
    _post(store, "w", "a", "more")
    assert store.changes_since(start + 4)[1] == {log_tag("w", "a")}
    assert store.changes_since(start + 3)[1] is None


def test_a_group_with_one_unscoped_operation_touches_anything(store: Store) -> None:
    _post(store, "w", "a", "first")
    before = store.feed.commits
    futures = [store.submit(lambda ctx: event_log.append(ctx, "w", "a", [
        event_log.NewEvent("alice", f"m{i}", "message", {}, None, 3, None)]), scoped=True) for i in range(50)]
    futures.append(store.submit(lambda ctx: ctx.conn.execute("UPDATE peers SET metadata = '{}'")))
    for f in futures:
        f.result()
    newest, changed = store.changes_since(before)
    assert newest > before and changed is None


def test_cache_drops_only_entries_whose_tags_were_touched(store: Store) -> None:
    _post(store, "w", "a", "first")
    _post(store, "w", "b", "first")
    cache = ReadCache(store, size=100)
    computed: list[str] = []

    def get(name: str, deps):
        return cache.get(name, lambda: computed.append(name) or len(computed), deps)

    deps = {"a": (ws_tag("w"), log_tag("w", "a")), "b": (ws_tag("w"), log_tag("w", "b")),
            "alice": (ws_tag("w"), peer_tag("w", "alice")), "any": None}
    for name, d in deps.items():
        get(name, d)
    assert computed == ["a", "b", "alice", "any"]
    for name, d in deps.items():  # all cached
        get(name, d)
    assert len(computed) == 4 and len(cache) == 4
    _post(store, "w", "a", "second")  # touches session a's log only
    for name, d in deps.items():
        get(name, d)
    assert computed[4:] == ["a", "any"]  # an entry without tags goes with any commit
    store.write(lambda ctx: ctx.touch(peer_tag("w", "alice")), scoped=True)
    for name, d in deps.items():
        get(name, d)
    assert computed[6:] == ["alice", "any"]
    store.write(lambda ctx: None)  # unscoped: everything
    for name, d in deps.items():
        get(name, d)
    assert computed[8:] == ["a", "b", "alice", "any"]


def test_a_value_read_while_its_tags_change_is_not_kept(store: Store) -> None:
    _post(store, "w", "a", "first")
    cache = ReadCache(store, size=100)
    calls = []

    def racing() -> int:  # a commit touching this entry lands while it is being read
        calls.append(1)
        if len(calls) == 1:
            _post(store, "w", "a", "during")
        return len(calls)

    deps = (ws_tag("w"), log_tag("w", "a"))
    assert cache.get("a", racing, deps) == 1
    assert cache.get("a", racing, deps) == 2  # not kept: read again
    assert cache.get("a", racing, deps) == 2  # now kept

    def unrelated() -> str:  # a commit elsewhere does not stop it being kept
        _post(store, "w", "a", "elsewhere")
        return "b"

    assert cache.get("b-entry", unrelated, (ws_tag("w"), log_tag("w", "z"))) == "b"
    assert cache.get("b-entry", lambda: "recomputed", (ws_tag("w"), log_tag("w", "z"))) == "b"


def test_size_bound_evicts_oldest_and_keeps_tag_index_small(store: Store) -> None:
    cache = ReadCache(store, size=3)
    for i in range(10):
        cache.get(i, lambda i=i: i, (log_tag("w", str(i)),))
    assert len(cache) == 3 and sorted(cache._data) == [7, 8, 9]
    assert set(cache._by_tag) == {log_tag("w", "7"), log_tag("w", "8"), log_tag("w", "9")}


def _lookups(c: httpx.Client) -> dict[str, float]:
    text = c.get("/metrics").text
    return {m[0]: float(m[1]) for m in re.findall(r'^honcho_read_cache_lookups\{result="(\w+)"\} (\S+)$', text, re.M)}


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory: pytest.TempPathFactory):
    srv = start_server(tmp_path_factory.mktemp("cache-home"), env={"HONCHO_LOCAL_EMBEDDING_MODEL": "none"})
    yield srv
    stop_server(srv)


def test_live_server_keeps_unaffected_reads_cached_and_shows_new_writes(quiet_server) -> None:
    with httpx.Client(base_url=quiet_server.url, timeout=30) as c:
        w = "/v3/workspaces/cachews"
        for s, peer in (("a", "alice"), ("b", "bob")):
            r = c.post(f"{w}/sessions/{s}/messages", json={"messages": [{"peer_id": peer, "content": f"hi from {s}"}]})
            assert r.status_code == 201, r.text
        r = c.post(f"{w}/conclusions", json={"conclusions": [
            {"content": "Alice keeps bees", "observer_id": "alice", "observed_id": "alice"},
            {"content": "Bob plays chess", "observer_id": "bob", "observed_id": "bob"}]})
        assert r.status_code == 201, r.text

        def context(s: str, target: str) -> dict:
            r = c.get(f"{w}/sessions/{s}/context", params={"peer_target": target, "tokens": 1000})
            assert r.status_code == 200, r.text
            return r.json()

        def representation(peer: str) -> str:
            r = c.post(f"{w}/peers/{peer}/representation", json={})
            assert r.status_code == 200, r.text
            return r.json()["representation"]

        context("a", "alice"), context("b", "bob"), representation("alice"), representation("bob")
        primed = _lookups(c)
        assert "hi from b" in context("b", "bob")["messages"][-1]["content"]
        assert "Alice keeps bees" in representation("alice")
        after = _lookups(c)
        assert after["miss"] == primed["miss"] and after["hit"] > primed["hit"]  # all from the cache

        r = c.post(f"{w}/sessions/a/messages", json={"messages": [{"peer_id": "alice", "content": "new in a"}]})
        assert r.status_code == 201, r.text
        before = _lookups(c)
        context("b", "bob")  # another session: still cached
        representation("bob")
        assert _lookups(c)["miss"] == before["miss"]
        assert context("a", "alice")["messages"][-1]["content"] == "new in a"  # read your write
        assert _lookups(c)["miss"] > before["miss"]

        r = c.post(f"{w}/conclusions", json={"conclusions": [
            {"content": "Bob moved to Porto", "observer_id": "bob", "observed_id": "bob"}]})
        assert r.status_code == 201, r.text
        before = _lookups(c)
        assert "Alice keeps bees" in representation("alice")  # about another peer: still cached
        assert _lookups(c)["miss"] == before["miss"]
        assert "Bob moved to Porto" in representation("bob")
        assert "Bob moved to Porto" in (context("b", "bob")["peer_representation"] or "")

        r = c.put(f"{w}/peers/alice/card", json={"peer_card": ["Keeps bees"]})
        assert r.status_code == 200, r.text
        assert context("a", "alice")["peer_card"] == ["Keeps bees"]

        other = "/v3/workspaces/cachews-other"
        r = c.post(f"{other}/sessions/x/messages", json={"messages": [{"peer_id": "carol", "content": "elsewhere"}]})
        assert r.status_code == 201, r.text
        assert c.get(f"{other}/sessions/x/context").status_code == 200
        r = c.put(w, json={"metadata": {"x": 1}})  # changes the workspace: every cached read of it goes
        assert r.status_code == 200, r.text
        before = _lookups(c)
        assert c.get(f"{other}/sessions/x/context").status_code == 200  # another workspace's: still cached
        assert _lookups(c)["miss"] == before["miss"]
        context("b", "bob")
        assert _lookups(c)["miss"] > before["miss"]
        r = c.delete(f"{w}/sessions/a")  # not scoped (a delete): every cached read goes
        assert r.status_code == 202, r.text
        before = _lookups(c)
        assert c.get(f"{other}/sessions/x/context").status_code == 200
        assert _lookups(c)["miss"] > before["miss"]


def test_recent_messages_from_memory_match_the_log_query(store: Store) -> None:
    import random

    import msgspec

    from honcho_local.store.message_rows import MessageRows

    rnd = random.Random(7)

    def append(session: str, n: int) -> None:
        def op(ctx: WriteContext) -> None:
            workspaces_db.ensure_workspace(ctx, "w")
            sessions_db.ensure_session(ctx, "w", session)
            peers_db.ensure_peer(ctx, "w", "alice")
            event_log.append(ctx, "w", session, [event_log.NewEvent(
                "alice", f"{session}-{i}", "message", {"i": i}, None, rnd.randrange(0, 40), None) for i in range(n)])
            event_log.append(ctx, "w", session, [event_log.NewEvent(  # not a message: never in the context
                "alice", "tool output", "tool_call", {}, None, 5, None)])
        store.write(op, scoped=True)

    def check() -> None:
        for session in ("a", "b", "empty"):
            for after in (0, 10, 60):
                for budget in (0, 1, 35, 200, 10_000):
                    sql = store.read(lambda cur: event_log.recent_messages(cur, "w", session, after, budget))
                    mem = rows.recent("w", session, after, budget)
                    # the memory rows also carry created_at as text (created_iso), as the views write it
                    assert [iso(m.created_at) for m in sql] == [m.created_iso for m in mem], \
                        (session, after, budget)
                    assert [msgspec.structs.replace(m, created_iso=None) for m in mem] == sql, (session, after, budget)

    for session in ("a", "b", "a"):
        append(session, 30)
    rows = MessageRows(store)
    check()
    loads = rows.loads
    append("b", 5)  # past the loaded copy: the next read loads just the new rows, and sees them
    assert rows.recent("w", "b", 0, 10_000)[-1].content == "b-4"
    assert rows.loads == loads + 1
    check()
    target = rows.recent("w", "a", 0, 10_000)[-1]
    store.write(lambda ctx: event_log.update_metadata(ctx, "w", "a", target.id, {"edited": True}), scoped=True)
    assert rows.recent("w", "a", 0, 10_000)[-1].metadata == {"edited": True}
    check()


def test_representation_pool_takes_the_newest_and_the_most_derived(store: Store) -> None:
    """The pool behind representations: the `recent` newest conclusions of a collection and its
    `frequent` most often derived ones (each part alone is one query, both a UNION)."""
    from honcho_local.store.conclusions import NewConclusion, insert_conclusions

    texts = [f"fact {i}" for i in range(6)]
    for i, text in enumerate(texts):  # fact i is derived 6-i times (repeats count up the first row)
        for _ in range(6 - i):
            store.write(lambda ctx, text=text: insert_conclusions(ctx, [NewConclusion("w", "a", "a", text)], "v1"),
                        scoped=True)
    store.write(lambda ctx: insert_conclusions(ctx, [NewConclusion("w", "a", "b", "about b")], "v1"), scoped=True)
    newest_first = list(reversed(texts))  # each fact's row was created in order

    def pool(recent: int, frequent: int) -> list[str]:
        rows = store.read(lambda cur: conclusions_db.representation_pool(cur, "w", "v1", "a", "a", recent, frequent))
        return sorted(r.content for r in rows)

    assert pool(2, 0) == sorted(newest_first[:2])
    assert pool(0, 2) == ["fact 0", "fact 1"]  # most derived
    assert pool(1, 2) == ["fact 0", "fact 1", "fact 5"]
    assert pool(0, 0) == []
    assert pool(10, 10) == sorted(texts)  # only the collection's own rows
