"""The DuckDB file: opening (one process only), migrations, per-thread read cursors and the writer.

All writes go through one writer thread that owns the write connection and commits in groups:
the first waiting operation and whatever else is queued behind it run in one transaction, so
concurrent requests share one WAL sync. If a group fails, it is rolled back and each operation is
re-run alone, so one bad operation fails only its own caller. A write returns after its commit.
The writer also checkpoints (idle, or every few seconds under a stream of writes) and handles a full
disk and an invalidated database (`store/faults.py`). What an operation gets is in `store/writectx.py`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from honcho_local import metrics
from honcho_local.errors import HonchoLocalError
from honcho_local.store import faults
from honcho_local.store.changes import ChangeFeed
from honcho_local.store.connection import connect as _connect
from honcho_local.store.connection import cursor as _cursor
from honcho_local.store.migrations import migrate
from honcho_local.store.writectx import (  # noqa: F401 - re-exported: callers import them from here
    Tag,
    WriteContext,
    append_rows,
    log_tag,
    peer_tag,
    summaries_tag,
    utcnow,
    ws_tag,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
IDLE_CHECKPOINT_SECONDS = 1.0
# Under a stream of writes that never leaves the writer idle for IDLE_CHECKPOINT_SECONDS, a checkpoint
# runs between two groups once the oldest commit not yet in the database file is this old: what a
# damaged WAL can lose stays within the last seconds' writes (issue 31).
BUSY_CHECKPOINT_SECONDS = 5.0
_STOP = object()
_REOPEN = object()  # a reader found the database invalidated: the writer reopens it


class _LazyCursor:
    """The thread's DuckDB cursor, fetched at its first use: a read answered from caches takes none."""

    __slots__ = ("_store", "_cursor")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cursor: duckdb.DuckDBPyConnection | None = None

    def __getattr__(self, name: str) -> Any:
        cursor = self._cursor
        if cursor is None:
            self._store.cursors_taken += 1
            cursor = self._cursor = self._store.cursor()
        return getattr(cursor, name)

    def finish(self) -> None:
        """End the read's transaction: run what the read left pending to its end (cheap: ~2 µs)."""
        if self._cursor is not None:
            try:
                self._cursor.complete()
            except duckdb.Error:
                pass


class Store:
    """One open DuckDB file. Create it with `Store.open(path)`; close it with `close()`.

    `before_commit` (tests: a full disk without filling one) runs in the writer just before each group
    commits; what it raises fails the group as a failing write would. `checkpoint_idle` is how long the
    writer waits without work before it checkpoints."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, path: Path, batch_max: int = 1000, fsync: bool = True,
                 before_commit: Callable[[], None] | None = None,
                 checkpoint_idle: float = IDLE_CHECKPOINT_SECONDS) -> None:
        self.path = path
        self._conn = conn
        self._fsync = fsync
        self._before_commit = before_commit
        self._checkpoint_idle = checkpoint_idle
        self.health = faults.StoreHealth()  # what is wrong with the files, for /health (store/faults.py)
        self._generation = 0  # moves when the file is reopened: threads then take fresh cursors
        self.cursors_taken = 0  # reads that queried DuckDB (`read`; tests check cached reads take none)
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursor_lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._batch_max = batch_max
        self._ctx = WriteContext(_cursor(conn))
        self.stats = {"ops": 0, "retried_groups": 0, "checkpoints": 0, "checkpoints_skipped": 0, "reopens": 0}
        self._checkpointed = threading.Condition()  # notified after each checkpoint (tests wait on it)
        # what the commits changed, for the in-memory indexes and read caches (store/changes.py)
        self.feed = ChangeFeed(conn.execute("SELECT coalesce(max(pk), 0) FROM events").fetchall()[0][0])
        self.message_head = self.feed.message_head
        self.changes_since = self.feed.changes_since
        self._checkpoint_retry = 0.0  # a checkpoint that failed is not tried again before this (monotonic)
        self._thread = threading.Thread(target=self._run_writer, name="duckdb-writer", daemon=True)
        self._closed = False
        self._thread.start()

    @classmethod
    def open(cls, path: str | Path, batch_max: int = 1000, fsync: bool = True, **options: Any) -> Store:
        """Open (creating and migrating) the file. `fsync=False` keeps writes safe from a process
        crash (kill -9) but not from an OS crash or power loss. `options` go to the constructor."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(path, fsync)
        try:
            migrate(conn)
            conn.execute("SELECT coalesce(max(pk), 0) FROM events").fetchall()  # what the constructor reads
        except duckdb.Error as exc:
            conn.close()
            raise faults.open_error(path, exc) from exc
        return cls(conn, path, batch_max, fsync, **options)

    @property
    def log_end(self) -> int:
        """The newest committed log position (`ChangeFeed.log_end`)."""
        return self.feed.log_end

    # ---- reads -------------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's read cursor (DuckDB connections must not be shared across threads)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None or self._local.generation != self._generation:
            with self._cursor_lock:
                cur = _cursor(self._conn)
                self._cursors.append(cur)
                self._local.cursor, self._local.generation = cur, self._generation
        return cur

    @contextlib.contextmanager
    def private_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the caller's own, closed after: for a long read in one transaction (a backup's
        snapshot) that must not leave a thread's shared read cursor inside it. Writes go on meanwhile."""
        cur = _cursor(self._conn)
        try:
            yield cur
        finally:
            cur.close()

    def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """`fn(cursor)`. The cursor is fetched when `fn` first uses it, so a read answered from caches
        never touches DuckDB (`cursors_taken` counts the reads that did).

        Whatever `fn` left unread is run to its end after it (`complete`): a result read with
        `fetchone()` kept its transaction open, and one open transaction made every checkpoint fail
        ("there are other write transactions active"): the WAL only ever grew (issue 31)."""
        lazy = _LazyCursor(self)
        try:
            return fn(lazy)  # type: ignore[arg-type]
        except duckdb.Error as exc:
            if faults.is_invalidated(exc):
                error = faults.unavailable_error(self.path, exc)
                self.health.set("invalidated", error.detail)
                self._queue.put(_REOPEN)
                raise error from exc
            raise
        finally:
            lazy.finish()

    # ---- writes ------------------------------------------------------------------------------
    def submit(self, op: Callable[[WriteContext], T], scoped: bool = False) -> Future[T]:
        """Queue `op`. `scoped`: every change `op` makes is recorded with `WriteContext.touch`
        (by it or the store functions it calls), so read caches drop only what it touched."""
        if self._closed:
            raise RuntimeError("store is closed")
        fut: Future[T] = Future()
        self._queue.put((op, fut, time.perf_counter(), scoped))
        return fut

    def write(self, op: Callable[[WriteContext], T], scoped: bool = False) -> T:
        """Run `op` in the writer thread inside a transaction; return its result after the commit."""
        return self.submit(op, scoped).result()

    def _take_group(self, first: Any) -> list[Any]:
        group = [first]
        while len(group) < self._batch_max:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP or item is _REOPEN:
                self._queue.put(item)
                break
            group.append(item)
        return group

    def _run_writer(self) -> None:
        """Commit groups; checkpoint after `checkpoint_idle` seconds without work, or between groups
        once the oldest commit not checkpointed is BUSY_CHECKPOINT_SECONDS old; while the store is
        unhealthy, look for the way back on the same idle tick (`_recover`)."""
        dirty_since: float | None = None  # when the oldest commit still only in the WAL was made
        while True:
            unhealthy = self.health.kind is not None
            try:
                first = self._queue.get(timeout=self._checkpoint_idle if dirty_since or unhealthy else None)
            except queue.Empty:
                self._recover()
                if dirty_since is not None and self._checkpoint():
                    dirty_since = None
                continue
            if first is _STOP:
                return
            if first is _REOPEN:
                self._recover()
                continue
            group = [g for g in self._take_group(first) if g[1].set_running_or_notify_cancel()]
            if group and self._run_group(group) and dirty_since is None:
                dirty_since = time.monotonic()
            busy_for = time.monotonic() - dirty_since if dirty_since is not None else 0.0
            if busy_for >= BUSY_CHECKPOINT_SECONDS and self._checkpoint():
                dirty_since = None

    def _run_group(self, group: list[Any]) -> bool:
        """Commit one group (timed); True when something was committed."""
        started = time.perf_counter()
        for item in group:
            metrics.WRITE_QUEUE_WAIT_SECONDS.observe(started - item[2])
        commits = self.feed.commits
        self._commit_group(group)
        metrics.WRITE_GROUP_SECONDS.observe(time.perf_counter() - started)
        metrics.WRITE_GROUP_OPS.observe(len(group))
        return self.feed.commits != commits

    def _checkpoint(self) -> bool:
        """Fold the WAL into the database file. True when it ran. Skipped while the disk lacks room for
        it: a checkpoint that cannot write makes DuckDB invalidate the database (store/faults.py)."""
        now = time.monotonic()
        if now < self._checkpoint_retry or self.health.kind is not None or \
                not faults.has_room(self.path, faults.wal_size(self.path)):
            return False
        try:
            with metrics.CHECKPOINT_SECONDS.time():
                self._ctx._conn.execute("CHECKPOINT")
        except duckdb.Error as exc:  # a read that began before the last commit is still open: later
            log.debug("checkpoint skipped", exc_info=True)
            self.stats["checkpoints_skipped"] += 1
            self._checkpoint_retry = now + self._checkpoint_idle
            if faults.is_invalidated(exc):
                self._reopen(exc)
            return False
        metrics.CHECKPOINTS.inc()
        with self._checkpointed:
            self.stats["checkpoints"] += 1
            self._checkpointed.notify_all()
        return True

    def wait_checkpoint(self, after: int, timeout: float) -> bool:
        """Wait until more than `after` checkpoints have run (`stats["checkpoints"]`); False on timeout."""
        with self._checkpointed:
            return self._checkpointed.wait_for(lambda: self.stats["checkpoints"] > after, timeout)

    def _recover(self) -> None:
        """While unhealthy: reopen an invalidated database; call a full disk over once it has room."""
        kind = self.health.kind
        if kind == "invalidated":
            self._reopen(None)
        elif kind == "disk_full" and faults.has_room(self.path, 0):
            log.warning("the disk holding %s has room again: writes resume", self.path)
            self.health.clear()

    def _reopen(self, exc: BaseException | None) -> bool:
        """Close every connection to the invalidated database and open the file again (DuckDB keeps
        an instance while any connection to it lives). Everything committed is in the file and its
        WAL; the writer's caches start empty. False while it cannot be opened (tried again when idle)."""
        if exc is not None:
            self.health.set("invalidated", faults.unavailable_error(self.path, exc).detail)
        with self._cursor_lock:
            for conn in [*self._cursors, self._ctx._conn, self._conn]:
                with contextlib.suppress(duckdb.Error):
                    conn.close()
            self._cursors.clear()
            try:
                self._conn = _connect(self.path, self._fsync)
            except Exception as error:  # noqa: BLE001 - still failing: say why, try again when idle
                log.warning("cannot reopen %s yet: %s", self.path, error)
                return False
            self._generation += 1
        self._ctx = WriteContext(_cursor(self._conn))
        self.feed.reopened(self._conn.execute("SELECT coalesce(max(pk), 0) FROM events").fetchall()[0][0])
        self.stats["reopens"] += 1
        self.health.clear()
        log.warning("reopened %s after DuckDB invalidated it", self.path)
        return True

    def _fail_group(self, group: list[Any], exc: BaseException) -> bool:
        """A full disk or an invalidated database fails the whole group (no op would pass alone): each
        caller gets a readable error (507 / 503) and the health says so. False for any other error."""
        if faults.is_invalidated(exc):
            error: HonchoLocalError = faults.unavailable_error(self.path, exc)
            self._reopen(exc)
        elif faults.is_disk_full(exc):
            error = faults.full_error(self.path, exc)
            if self.health.kind != "disk_full":
                log.warning("%s", error.detail)
            self.health.set("disk_full", error.detail)
        else:
            return False
        for item in group:
            item[1].set_exception(error)
        return True

    def _commit_group(self, group: list[Any]) -> None:
        ctx = self._ctx
        results: list[Any] = []
        unscoped = False
        ctx.touched = set()
        try:
            for op, _, _, scoped in group:
                unscoped = unscoped or not scoped
                results.append(op(ctx))
            if self._before_commit is not None:
                self._before_commit()
            ctx.commit()
        except BaseException as exc:  # noqa: BLE001 - every failure is handed to the callers
            ctx.rollback()
            if self._fail_group(group, exc):
                return
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            self.stats["retried_groups"] += 1
            for item in group:
                self._commit_group([item])
            return
        if self.health.kind == "disk_full":
            self.health.clear()
        self.feed.record(ctx, unscoped)
        self.stats["ops"] += len(group)
        callbacks, ctx.after_commit = ctx.after_commit, []
        # before the callers hear of the commit: in-memory copies fed by callbacks (message rows)
        # then already hold what a caller reads next (callbacks are quick; none waits on a write)
        for cb in callbacks:
            try:
                cb()
            except Exception:  # pragma: no cover - a callback must never stop the writer
                log.exception("after-commit callback failed")
        for (_, fut, _, _), result in zip(group, results):
            fut.set_result(result)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        with self._cursor_lock:
            for cur in self._cursors:
                try:
                    cur.close()
                except duckdb.Error:
                    pass
            self._cursors.clear()
        try:
            self._ctx._conn.close()
            if faults.has_room(self.path, faults.wal_size(self.path)):
                self._conn.execute("CHECKPOINT")
            else:  # a checkpoint that cannot write invalidates the file: the WAL is replayed at the next open
                log.warning("no checkpoint at close: the disk holding %s lacks room; the WAL is kept", self.path)
        except duckdb.Error:  # pragma: no cover
            log.warning("checkpoint at close failed", exc_info=True)
        self._conn.close()
