"""The store layer on a real DuckDB file: migrations, the group-commit writer, the event log."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from honcho_local.store import Store, WriteContext
from honcho_local.store import events as event_log
from honcho_local.store import sessions as sessions_db
from honcho_local.store import workspaces as workspaces_db
from honcho_local.store.migrations import MIGRATIONS, migrate


def _schema(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    return conn.execute(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "ORDER BY table_name, column_name").fetchall()


def test_fresh_and_upgraded_files_end_identical(tmp_path: Path) -> None:
    fresh = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    assert migrate(fresh) == [m.__name__ for m in MIGRATIONS]
    assert migrate(fresh) == []  # idempotent
    old = duckdb.connect(str(tmp_path / "old.duckdb"))
    old.execute("CREATE TABLE schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")
    MIGRATIONS[0](old)
    old.execute("INSERT INTO schema_migrations VALUES (?, now()::TIMESTAMP)", [MIGRATIONS[0].__name__])
    migrate(old)
    assert _schema(old) == _schema(fresh)
    names = lambda c: [r[0] for r in c.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]
    assert names(old) == names(fresh)


def test_second_process_is_refused_with_clear_error(store: Store) -> None:
    import subprocess
    import sys

    code = ("from honcho_local.store import Store\n"
            f"Store.open({str(store.path)!r})")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode != 0 and "StoreLocked" in r.stderr and "honcho-local serve" in r.stderr


def _append(ws: str, session: str, contents: list[str]):
    def op(ctx: WriteContext):
        workspaces_db.ensure_workspace(ctx, ws)
        sessions_db.ensure_session(ctx, ws, session)
        return event_log.append(ctx, ws, session, [
            event_log.NewEvent("p", c, "message", {}, None, 1, None) for c in contents])
    return op


def _hold_writer(store: Store):
    """Occupies the writer thread until the returned event is set; returns once the writer is inside, so
    that what is submitted next queues up and is taken as one group (without the wait, the writer can
    take the blocker and the next submission together)."""
    inside, release = threading.Event(), threading.Event()

    def blocker(ctx: WriteContext) -> None:
        inside.set()
        release.wait(5)

    first = store.submit(blocker)
    assert inside.wait(5)
    return first, release


def test_group_commit_isolates_a_failing_operation(store: Store) -> None:
    def failing(ctx: WriteContext) -> None:
        ctx.conn.execute("INSERT INTO workspaces VALUES ('zz', '{}', '{}', '{}', now()::TIMESTAMP)")
        raise ValueError("boom")

    first, barrier = _hold_writer(store)  # the next three are taken as one group
    futures = [store.submit(_append("w", "s", ["a"])), store.submit(failing), store.submit(_append("w", "s", ["b"]))]
    barrier.set()
    first.result(5)
    assert [r["seq"] for r in futures[0].result(5)] == [1]
    with pytest.raises(ValueError, match="boom"):
        futures[1].result(5)
    assert [r["seq"] for r in futures[2].result(5)] == [2]
    rows = store.read(lambda c: c.execute("SELECT content, seq FROM events ORDER BY pk").fetchall())
    assert rows == [("a", 1), ("b", 2)]
    assert store.read(lambda c: c.execute("SELECT id FROM workspaces ORDER BY id").fetchall()) == [("w",)]
    assert store.stats["retried_groups"] >= 1


def test_cursor_advances_of_a_group_are_one_statement_beside_its_events(store: Store, monkeypatch) -> None:
    """Advances queued while the writer is busy go in as one upsert in the group's transaction, with the
    events appended between them; each unit keeps its highest cursor and a cursor never moves back."""
    from honcho_local.store import units

    a = units.UnitKey("representation", "v1", "w", "s", "alice")
    b = units.UnitKey("summary", "v1", "w", "s")
    store.write(lambda ctx: units.advance(ctx, b, 50))
    store.write(_append("w", "s", ["first"]))  # the workspace and session are known to the writer now
    statements = []
    real = units.advance_rows
    monkeypatch.setattr(units, "advance_rows", lambda conn, rows: (statements.append(list(rows)), real(conn, rows)))
    first, barrier = _hold_writer(store)
    futures = [store.submit(lambda ctx: units.advance_later(ctx, a, 3)), store.submit(_append("w", "s", ["x", "y"])),
               store.submit(lambda ctx: units.advance_later(ctx, a, 7)),
               store.submit(lambda ctx: units.advance_later(ctx, b, 20))]
    barrier.set()
    first.result(5)
    assert [r["content"] for r in futures[1].result(5)] == ["x", "y"]
    for f in futures:
        f.result(5)
    assert len(statements) == 1 and len(statements[0]) == 3
    got = store.read(lambda c: c.execute("SELECT key, kind, observed_id, cursor_pk, status FROM work_units ORDER BY key")
                     .fetchall())
    assert got == [(str(a), "representation", "alice", 7, "ok"), (str(b), "summary", None, 50, "ok")]
    assert store.read(lambda c: c.execute("SELECT count(*) FROM events").fetchone()[0]) == 3


def test_first_writes_to_new_sessions_are_one_statement_per_table(store: Store, monkeypatch) -> None:
    """A group of message posts to sessions, peers and memberships the writer has not met creates
    them with one statement per table and appends every event with one insert; each new session's
    log starts at 1, an existing session's continues, and a sender who had left the session is made
    active again with its settings kept."""
    from honcho_local import schemas
    from honcho_local.services.ingest import Ingest
    from honcho_local.services.resources import Resources

    def old(ctx: WriteContext) -> None:
        workspaces_db.ensure_workspace(ctx, "w")
        sessions_db.ensure_session(ctx, "w", "old")
        sessions_db.upsert_member(ctx, "w", "old", "gone", False, None)
        sessions_db.remove_members(ctx, "w", "old", ["gone"])
        event_log.append(ctx, "w", "old", [event_log.NewEvent("gone", "earlier", "message", {}, None, 1, None)])

    store.write(old)
    store.close()  # a new writer: it knows nothing of what is stored
    reopened = Store.open(store.path)
    try:
        calls: dict[str, int] = {}
        for kind, flusher in list(sessions_db._ENSURE_FLUSHERS.items()):
            monkeypatch.setitem(sessions_db._ENSURE_FLUSHERS, kind, lambda conn, rows, kind=kind, f=flusher: (
                calls.__setitem__(kind, calls.get(kind, 0) + 1), f(conn, rows)))
        real_events = event_log.insert_event_rows
        monkeypatch.setattr(event_log, "insert_event_rows", lambda conn, rows: (
            calls.__setitem__("events", calls.get("events", 0) + 1), real_events(conn, rows)))
        ingest = Ingest(reopened, Resources(reopened))
        batch = lambda *pairs: schemas.MessageBatch.model_validate(
            {"messages": [{"peer_id": p, "content": c} for p, c in pairs]})
        first, barrier = _hold_writer(reopened)
        futures = [ingest.submit_messages("w", f"s{i}", batch((f"user{i}", "hi"), ("bot", "hello"))) for i in range(5)]
        futures.append(ingest.submit_messages("w", "old", batch(("gone", "back again"))))
        barrier.set()
        first.result(5)
        assert [[m["content"] for m in f.result(5)] for f in futures][-1] == ["back again"]
        assert calls == {"ensure_workspaces": 1, "ensure_sessions": 1, "ensure_peers": 1, "ensure_members": 1,
                         "events": 1}
        q = lambda sql: reopened.read(lambda c: c.execute(sql).fetchall())
        assert q("SELECT id FROM sessions ORDER BY id") == [("old",), *[(f"s{i}",) for i in range(5)]]
        assert q("SELECT id FROM peers ORDER BY id") == [("bot",), ("gone",), *[(f"user{i}",) for i in range(5)]]
        assert q("SELECT count(*) FROM session_peers WHERE left_at IS NULL") == [(11,)]
        assert q("SELECT observe_me, left_at FROM session_peers WHERE session_id = 'old'") == [(False, None)]
        assert q("SELECT session_id, min(seq), max(seq) FROM events GROUP BY ALL ORDER BY 1") == [
            ("old", 1, 2), *[(f"s{i}", 1, 2) for i in range(5)]]
    finally:
        reopened.close()


def test_a_failed_append_leaves_nothing_behind_for_the_next(tmp_path: Path) -> None:
    """`db.append_rows` keeps one appender per connection and table: rows of an append that failed (a
    duplicate key at the flush, or a value that does not convert) are dropped, not flushed with the next."""
    from honcho_local.store.db import append_rows

    conn = duckdb.connect(str(tmp_path / "a.duckdb"))
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, doc JSON)")
    append_rows(conn, "t", [(1, "{}")])
    with pytest.raises(duckdb.ConstraintException):
        append_rows(conn, "t", [(2, "{}"), (1, "{}")])
    with pytest.raises(duckdb.ConversionException):
        append_rows(conn, "t", [(3, "{}"), (4, "not json")])
    conn.execute("UPDATE t SET doc = '[]' WHERE k = 1")  # a result left unread does not block the next flush
    append_rows(conn, "t", [(5, '{"a": 1}')])
    assert conn.execute("SELECT k, doc FROM t ORDER BY k").fetchall() == [(1, "[]"), (5, '{"a": 1}')]
    conn.close()


def test_message_head_follows_commits_and_forgets_on_delete(tmp_path: Path) -> None:
    """`Store.message_head` answers the session's newest message position: from DuckDB the first time
    (after a restart too), then from the commits that append to it (other event kinds and other
    sessions leave it alone); a delete drops what it kept and the next answer comes from the log."""
    def append(session: str, *kinds: str):
        return lambda ctx: [r["pk"] for r in event_log.append(ctx, "w", session, [
            event_log.NewEvent("p", "x", kind, {}, None, 1, None) for kind in kinds])]

    path = tmp_path / "h.duckdb"
    first = Store.open(path)
    first.write(lambda ctx: sessions_db.ensure_for_append(ctx, "w", "s", ["p"]))
    pks = first.write(append("s", "message", "message", "tool_call"))
    first.close()
    store = Store.open(path)
    try:
        queries = []
        head = lambda session: store.read(lambda cur: store.message_head(
            _Counting(cur, queries), "w", session))
        assert head("s") == pks[1] and len(queries) == 1  # from the log, once
        assert head("s") == pks[1] and len(queries) == 1
        more = store.write(append("s", "message", "custom"))
        other = store.write(append("t", "message"))
        assert head("s") == more[0] and len(queries) == 1  # kept current by the commit
        store.write(lambda ctx: sessions_db.delete_session(ctx, "w", "s"))
        assert head("s") == 0 and len(queries) == 2
        again = store.write(append("s", "message"))
        assert head("s") == again[0] and head("t") == other[0] and len(queries) == 3
    finally:
        store.close()


class _Counting:
    def __init__(self, cur, queries: list) -> None:
        self.cur, self.queries = cur, queries

    def execute(self, sql, params=None):
        self.queries.append(sql)
        return self.cur.execute(sql, params or [])


def test_concurrent_appends_keep_per_session_order(store: Store) -> None:
    def worker(session: str) -> None:
        for i in range(30):
            store.write(_append("w", session, [f"{session}-{i}-0", f"{session}-{i}-1"]))

    threads = [threading.Thread(target=worker, args=(f"s{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        rows = store.read(lambda c: c.execute(
            "SELECT content, seq FROM events WHERE session_id = ? ORDER BY pk", [f"s{k}"]).fetchall())
        assert [r[1] for r in rows] == list(range(1, 61))
        assert [r[0] for r in rows] == [f"s{k}-{i}-{j}" for i in range(30) for j in range(2)]
    assert store.stats["ops"] == 120


def test_reopen_after_close_sees_everything(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    s = Store.open(path)
    s.write(_append("w", "s", ["one", "two"]))
    s.close()
    s2 = Store.open(path)
    try:
        assert s2.read(lambda c: c.execute("SELECT count(*) FROM events").fetchone()[0]) == 2
        s2.write(_append("w", "s", ["three"]))
        assert s2.read(lambda c: c.execute("SELECT max(seq) FROM events").fetchone()[0]) == 3
    finally:
        s2.close()


def test_a_read_answered_from_caches_takes_no_cursor(store: Store) -> None:
    """`Store.read` fetches the thread's cursor only when the read queries: one answered from memory
    touches no DuckDB connection (`cursors_taken` counts the reads that did)."""
    before = store.cursors_taken
    assert store.read(lambda cur: "from memory") == "from memory"
    assert store.cursors_taken == before
    assert store.read(lambda cur: cur.execute("SELECT 1").fetchone()) == (1,)
    assert store.cursors_taken == before + 1


def test_cache_first_answers_a_held_read_on_the_loop_and_computes_the_rest_in_a_thread(store: Store) -> None:
    import asyncio

    from honcho_local.api.deps import cache_first
    from honcho_local.services.readcache import MISS, Read, ReadCache
    from honcho_local.store import ws_tag

    cache = ReadCache(store, size=10)
    computed: list[threading.Thread] = []

    def compute() -> str:
        computed.append(threading.current_thread())
        return "answer"

    read = Read(("k",), compute, (ws_tag("w"),))
    assert cache.peek(read.key) is MISS and computed == []  # a peek never computes

    async def main() -> tuple[str, str, threading.Thread]:
        return await cache_first(cache, read), await cache_first(cache, read), threading.current_thread()

    first, second, loop_thread = asyncio.run(main())
    assert first == second == "answer"
    assert len(computed) == 1 and computed[0] is not loop_thread  # computed once, in a handler thread
    store.write(lambda ctx: ctx.touch(ws_tag("w")), scoped=True)  # a commit touching its tag drops it
    assert cache.peek(read.key) is MISS
