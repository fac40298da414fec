"""Faults survived (issue 31, items 2, 3 and 6): checkpoints that happen, a full disk, bad filters and
corrupt files. Real DuckDB files; a live server where the behaviour is the server's."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from honcho_local.errors import StorageFull, StoreUnavailable
from honcho_local.store import Store, events
from honcho_local.store.db import WriteContext
from honcho_local.store.search import LexicalIndex
from tests.conftest import (
    CLIENT_TIMEOUT_S,
    READ_SERVER_ENV,
    REPO_ROOT,
    start_server,
    stop_server,
)

JSON = {"Content-Type": "application/json"}
WAIT_S = 120  # an upper bound for events the tests wait on, never a measured figure


def _table(ctx: WriteContext, value: int) -> int:
    ctx.conn.execute("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
    ctx.conn.execute("INSERT INTO probe VALUES (?)", [value])
    return value


def _count(store: Store) -> int:
    return store.read(lambda cur: cur.execute("SELECT count(*) FROM probe").fetchone()[0])


# ---- item 2: checkpoints that happen ---------------------------------------------------------------
def test_idle_checkpoint_succeeds_beside_reads_that_left_results_unread(tmp_path: Path) -> None:
    """Reads in other threads that stop at `fetchone()` no longer keep a transaction open that made every
    checkpoint fail: the WAL is folded into the file once the writer is idle."""
    store = Store.open(tmp_path / "honcho.duckdb", checkpoint_idle=0.05)
    try:
        for i in range(20):
            before = store.stats["checkpoints"]
            store.write(lambda ctx, i=i: _table(ctx, i))
            readers = [threading.Thread(target=_count, args=(store,)) for _ in range(3)]
            for t in readers:
                t.start()
            for t in readers:
                t.join()
            assert store.wait_checkpoint(before, WAIT_S), store.stats
        assert not (tmp_path / "honcho.duckdb.wal").exists()
        assert _count(store) == 20
    finally:
        store.close()


def _post(client: httpx.Client, session: str, texts: list[str]) -> list[str]:
    r = client.post(f"/v3/workspaces/faults/sessions/{session}/messages",
                    json={"messages": [{"content": t, "peer_id": "alice"} for t in texts]})
    assert r.status_code == 201, r.text
    return [m["id"] for m in r.json()]


def _stored(client: httpx.Client, session: str) -> list[str]:
    ids: list[str] = []
    page = 1
    while True:
        body = client.post(f"/v3/workspaces/faults/sessions/{session}/messages/list?page={page}&size=100",
                           headers=JSON).json()
        ids += [m["id"] for m in body["items"]]
        if page >= body["pages"]:
            return ids
        page += 1


def _checkpoints(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("honcho_store_checkpoints_total"):
            return float(line.split()[-1])
    return 0.0


def _wait_checkpoint(client: httpx.Client, after: float) -> None:
    """Until a checkpoint past `after` has run (polled; WAIT_S only bounds a hang)."""
    deadline = time.monotonic() + WAIT_S
    while _checkpoints(client) <= after:
        assert time.monotonic() < deadline, "no checkpoint"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_damaged_wal_loses_only_the_writes_since_the_last_checkpoint(tmp_path: Path) -> None:
    """A burst of writes, an idle moment (the writer checkpoints), a few more writes, kill -9, then the
    WAL's header is damaged (DuckDB then replays none of it, silently). Only the writes after the
    checkpoint can be lost, and the restarted server says so and keeps a copy of the WAL."""
    home = tmp_path / "home"
    server = start_server(home)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        burst = [mid for i in range(40) for mid in _post(client, "s", [f"burst {i} {j}" for j in range(5)])]
        _wait_checkpoint(client, _checkpoints(client))  # it runs after every burst write was committed
        last = [mid for i in range(3) for mid in _post(client, "s", [f"last {i}"])]
    assert server.kill(signal.SIGKILL) == -signal.SIGKILL
    wal = home / "honcho.duckdb.wal"
    assert wal.exists() and wal.stat().st_size > 0  # the last writes are only there
    with open(wal, "r+b") as f:
        f.write(b"\0" * 16)

    restarted = start_server(home)
    try:
        with httpx.Client(base_url=restarted.url, timeout=60) as client:
            stored = _stored(client, "s")
        assert stored[:len(burst)] == burst
        assert set(stored[len(burst):]) <= set(last)
        assert "replayed its WAL only in part" in restarted.log()
        assert list(home.glob("honcho.duckdb.wal.unreplayed-*"))
    finally:
        stop_server(restarted)


# ---- item 3: a full disk --------------------------------------------------------------------------
class DiskFault:
    """A `before_commit` seam: while `full`, every commit fails as a full disk would (ENOSPC); `fatal`
    fails the next one as an invalidated database does."""

    def __init__(self) -> None:
        self.full = False
        self.fatal = False

    def __call__(self) -> None:
        if self.fatal:
            self.fatal = False
            raise duckdb.FatalException("FATAL Error: Failed: database has been invalidated because of a previous "
                                        "fatal error.\nOriginal error: \"Could not write file: No space left on device\"")
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_fails_writes_readably_and_recovers_without_reopening(tmp_path: Path) -> None:
    fault = DiskFault()
    store = Store.open(tmp_path / "honcho.duckdb", before_commit=fault)
    try:
        store.write(lambda ctx: _table(ctx, 1))
        fault.full = True
        futures = [store.submit(lambda ctx, i=i: _table(ctx, 10 + i)) for i in range(5)]
        for fut in futures:
            with pytest.raises(StorageFull, match="is full"):
                fut.result()
        assert store.health.snapshot()["problem"] == "disk_full"
        assert _count(store) == 1  # reads go on
        fault.full = False
        assert store.write(lambda ctx: _table(ctx, 2)) == 2
        assert store.health.snapshot() is None
        assert _count(store) == 2
        assert store.stats["reopens"] == 0
    finally:
        store.close()


def test_an_invalidated_database_is_reopened_and_keeps_every_commit(tmp_path: Path) -> None:
    fault = DiskFault()
    store = Store.open(tmp_path / "honcho.duckdb", before_commit=fault)
    try:
        for i in range(3):
            store.write(lambda ctx, i=i: _table(ctx, i))
        assert _count(store) == 3  # this thread now holds a cursor of the connection about to be closed
        fault.fatal = True
        with pytest.raises(StoreUnavailable, match="reopened"):
            store.write(lambda ctx: _table(ctx, 99))
        assert store.stats["reopens"] == 1 and store.health.snapshot() is None
        store.write(lambda ctx: _table(ctx, 3))
        assert _count(store) == 4
    finally:
        store.close()
    reopened = Store.open(tmp_path / "honcho.duckdb")
    try:
        assert sorted(reopened.read(lambda cur: cur.execute("SELECT x FROM probe").fetchall())) == [(0,), (1,), (2,), (3,)]
    finally:
        reopened.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs of its own, to fill (root only; skipped where mounting is not permitted)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}): the full-disk logic "
                    f"is still covered through the store's before_commit seam")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path) -> Path:
    """Fill the disk to its last byte; returns the filler to remove."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # unbuffered: a partial write leaves nothing for close to flush
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_checkpoint_on_a_full_disk_invalidates_and_the_store_reopens(small_disk: Path) -> None:
    """DuckDB invalidates the database when a checkpoint cannot write (reads fail too, until it is opened
    again): the store fails that call with StoreUnavailable (503), reopens the file at once (opening only
    reads), reads go on, and nothing committed is lost."""
    store = Store.open(small_disk / "honcho.duckdb", checkpoint_idle=3600)
    try:
        store.write(lambda ctx: ctx.conn.execute("CREATE TABLE probe AS SELECT range AS x FROM range(200000)"))
        filler = _fill(small_disk)
        with pytest.raises(StoreUnavailable, match="No space left"):
            store.write(lambda ctx: ctx.lookup("CHECKPOINT"))  # one the writer itself would not start now
        assert store.stats["reopens"] == 1
        assert _count(store) == 200_000
        os.remove(filler)
        store.write(lambda ctx: _table(ctx, -1))
        assert _count(store) == 200_001 and store.health.snapshot() is None
    finally:
        store.close()


def _wait_health(client: httpx.Client, status: int) -> dict:
    deadline = time.monotonic() + WAIT_S
    while (r := client.get("/health")).status_code != status:
        assert time.monotonic() < deadline, r.text
        time.sleep(0.05)
    return r.json()


def _wait_indexed(home: Path, events: int) -> None:
    """Until the lexical index has committed `events` log positions (its `upto` file)."""
    upto = home / "lexical-index" / "upto"
    deadline = time.monotonic() + WAIT_S
    while not (upto.exists() and int(upto.read_text() or 0) >= events):
        assert time.monotonic() < deadline, "the lexical index stopped committing"
        time.sleep(0.05)


@pytest.mark.slow
def test_server_on_a_full_disk_answers_507_reports_it_and_recovers(small_disk: Path) -> None:
    home = small_disk / "home"
    server = start_server(home)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            acked = [mid for i in range(20) for mid in _post(client, "s", [f"before {i}"])]
            filler = _fill(small_disk)
            refused = None
            for i in range(200):  # a write may still fit in what the last block left
                r = client.post("/v3/workspaces/faults/sessions/s/messages",
                                json={"messages": [{"content": f"while full {i} " + "x" * 2000, "peer_id": "alice"}]})
                if r.status_code == 201:
                    acked += [m["id"] for m in r.json()]
                    continue
                refused = r
                break
            assert refused is not None and refused.status_code == 507, refused and refused.text
            assert "full" in refused.json()["detail"] and "not stored" in refused.json()["detail"]
            health = client.get("/health")
            assert health.status_code == 503 and health.json()["problem"] == "disk_full", health.text
            assert client.post("/v3/workspaces/faults/search", json={"query": "before"}).status_code == 200
            assert client.get("/v3/workspaces/faults/sessions/s/context").status_code == 200
            assert _stored(client, "s") == acked

            os.remove(filler)
            assert _wait_health(client, 200) == {"status": "ok"}
            acked += _post(client, "s", ["after"])
            assert _stored(client, "s") == acked
            _wait_indexed(home, len(acked))  # the lexical index's writer, killed by the full disk, is renewed
        assert server.kill(signal.SIGKILL) == -signal.SIGKILL
        server = start_server(home)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert _stored(client, "s") == acked
    finally:
        stop_server(server)


# ---- item 6: answers instead of 500s and silent filters; corrupt files -----------------------------
def test_conclusion_query_for_a_pair_without_conclusions_is_an_empty_list(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", env=READ_SERVER_ENV, timeout=120)
    try:
        with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client:
            client.post("/v3/workspaces", json={"id": "faults"})
            query = {"query": "what does alice like", "filters": {"observer_id": "alice", "observed_id": "bob"}}
            r = client.post("/v3/workspaces/faults/conclusions/query", json=query)
            assert r.status_code == 200 and r.json() == [], r.text
            created = client.post("/v3/workspaces/faults/conclusions", json={"conclusions": [
                {"content": "alice likes tea", "observer_id": "alice", "observed_id": "alice"}]})
            assert created.status_code == 201, created.text
            r = client.post("/v3/workspaces/faults/conclusions/query", json=query)  # another pair has some now
            assert r.status_code == 200 and r.json() == [], r.text
    finally:
        stop_server(server)


@pytest.mark.parametrize(("filters", "named"), [
    ({"metadata": {"score": {"between": [1, 5]}}}, "'between'"),
    ({"metadata": {"score": {"gte": 1, "bogus": 5}}}, "'bogus'"),
    ({"metadata": {"score": {"$gt": 1}}}, "'$gt'"),
    ({"metadata": {"score": {"gtee": 1}}}, "'gtee'"),
])
def test_an_unknown_metadata_operator_is_a_422_naming_it(http: httpx.Client, workspace_id: str, filters: dict,
                                                          named: str) -> None:
    for route in (f"/v3/workspaces/{workspace_id}/sessions/list", f"/v3/workspaces/{workspace_id}/peers/list"):
        r = http.post(route, json={"filters": filters})
        assert r.status_code == 422, r.text
        assert named in r.json()["detail"] and "unknown operator" in r.json()["detail"]


def test_a_nested_metadata_object_is_still_matched_by_containment(http: httpx.Client, workspace_id: str) -> None:
    w = f"/v3/workspaces/{workspace_id}"
    http.post(f"{w}/sessions", json={"id": "s1", "metadata": {"address": {"city": "Oslo", "zip": "0150"}}})
    found = http.post(f"{w}/sessions/list", json={"filters": {"metadata": {"address": {"city": "Oslo"}}}})
    assert found.status_code == 200 and [s["id"] for s in found.json()["items"]] == ["s1"]


def test_in_lists_are_capped(http: httpx.Client, workspace_id: str) -> None:
    w = f"/v3/workspaces/{workspace_id}"
    http.post(f"{w}/sessions", json={"id": "s1", "metadata": {"n": 7}})
    for filters in ({"id": {"in": [f"s{i}" for i in range(1_001)]}}, {"id": [f"s{i}" for i in range(1_001)]},
                    {"metadata": {"n": {"in": list(range(100_000))}}}):
        r = http.post(f"{w}/sessions/list", json={"filters": filters})
        assert r.status_code == 422 and "at most 1,000 values" in r.json()["detail"], r.text
    r = http.post(f"{w}/sessions/list", json={"filters": {"metadata": {"n": {"in": list(range(1_000))}}}})
    assert r.status_code == 200 and [s["id"] for s in r.json()["items"]] == ["s1"]


@pytest.mark.slow
def test_corrupt_derived_files_are_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = start_server(home)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        written = _post(client, "s", ["the lighthouse keeper paints boats", "nothing else"])
    _wait_indexed(home, len(written))  # so the folder damaged below is one the server would reuse
    stop_server(server)
    for name in ("queue.sqlite3-wal", "queue.sqlite3-shm"):
        (home / name).unlink(missing_ok=True)
    (home / "queue.sqlite3").write_bytes(b"not a database, " * 512)
    meta = home / "lexical-index" / "meta.json"
    meta.write_text("{damaged")

    server = start_server(home)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            found = client.post("/v3/workspaces/faults/search", json={"query": "lighthouse keeper"})
            assert found.status_code == 200 and found.json()[0]["id"] == written[0], found.text
            _post(client, "s", ["after the rebuild"])
        log = server.log()
        assert log.count("lexical-index is corrupt") == 1, log
        assert "Traceback" not in log
        # the SQLite queue of older releases (the queue is in memory now) is removed, whatever it held
        assert list(home.glob("queue.sqlite3*")) == []
        assert (next(home.glob("lexical-index.corrupt-*")) / "meta.json").read_text() == "{damaged"
    finally:
        stop_server(server)


@pytest.mark.parametrize("damage", ["header", "wal"])
def test_a_corrupt_store_is_one_line_naming_the_file_and_the_fix(tmp_path: Path, damage: str) -> None:
    home = tmp_path / "home"
    db = home / "honcho.duckdb"
    store = Store.open(db, checkpoint_idle=3600)
    store.write(lambda ctx: _table(ctx, 1))
    store.write(lambda ctx: _table(ctx, 2))
    shutil.copy(db.with_name("honcho.duckdb.wal"), tmp_path / "wal")  # as a crash would leave it
    store.close()
    if damage == "header":
        with open(db, "r+b") as f:
            f.write(b"\xff" * 4096)
    else:
        wal = bytearray((tmp_path / "wal").read_bytes())
        wal[len(wal) // 2:len(wal) // 2 + 16] = b"\0" * 16  # an entry whose checksum no longer matches
        db.with_name("honcho.duckdb.wal").write_bytes(bytes(wal))
    done = subprocess.run([sys.executable, "-m", "honcho_local.cli", "serve", "--home", str(home), "--port", "0"],
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, cwd=str(REPO_ROOT), check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(db) in lines[0] and "honcho-local restore" in lines[0]
    if damage == "wal":
        assert "WAL" in lines[0] and "Move the WAL aside" in lines[0]


def test_the_lexical_index_indexes_again_once_a_full_disk_has_room(small_disk: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """tantivy kills its writer at an I/O error: without a new one the index never committed again."""
    store = Store.open(small_disk / "honcho.duckdb")
    index = LexicalIndex(store, small_disk / "lexical-index")
    try:
        def append(texts: list[str]) -> None:
            store.write(lambda ctx: events.append(ctx, "w", "s", [
                events.NewEvent("alice", t, "message", {}, None, 3, None) for t in texts]))

        append(["first message about lighthouses"])
        assert index.wait_fresh(WAIT_S) and index.upto == 1
        append([f"message {i} " + "words " * 200 for i in range(300)])  # committed while there is room
        filler = _fill(small_disk)
        index.notify()
        deadline = time.monotonic() + WAIT_S
        while not any("lexical indexing failed" in r.getMessage() for r in caplog.records):  # its writer died
            assert time.monotonic() < deadline, "the indexer never tried"
            time.sleep(0.05)
        os.remove(filler)
        assert index.wait_fresh(WAIT_S) and index.upto == 301
        assert index.search("lighthouses", 5, "w")[0] == 1
    finally:
        index.close()
        store.close()
