"""The one place that opens DuckDB: the store file attached with its options and its cursors
(`store/db.py`), plain connections to a file no server holds (backup, restore, reports), and scratch
in-memory instances (reading Parquet)."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from honcho_local.errors import StoreLocked
from honcho_local.store import faults

log = logging.getLogger(__name__)
# Rows per DuckDB row group in this file (DuckDB's default: 122,880). A checkpoint compresses every row
# group that filled since the last one, in one go, while commits wait: smaller groups bound that wait
# (docs/decisions/005-checkpoint-stalls.md).
ROW_GROUP_SIZE = 16_384
CATALOG = "honcho"  # the name the file is attached under (see `connect`)


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _locked(exc: duckdb.Error) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def _in_use(path: Path) -> StoreLocked:
    return StoreLocked(f"{path} is in use by another process (is `honcho-local serve` running?)")


def cursor(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor on the store's file: a cursor is a new connection, which starts in the in-memory catalog."""
    cur = conn.cursor()
    cur.execute(f"USE {CATALOG}")
    return cur


def connect(path: Path, fsync: bool) -> duckdb.DuckDBPyConnection:
    """The store's connection to the file, set up; a WAL DuckDB did not replay to its end is reported
    and kept."""
    wal_at_open = faults.wal_size(path)
    conn = duckdb.connect()  # the file is attached to an in-memory instance: ROW_GROUP_SIZE is an ATTACH option
    try:
        conn.execute(f"ATTACH '{_quoted(path)}' AS {CATALOG} (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
        conn.execute(f"USE {CATALOG}")
    except duckdb.Error as exc:
        conn.close()
        if _locked(exc):
            raise _in_use(path) from exc
        raise (faults.full_error(path, exc) if faults.is_disk_full(exc) else faults.open_error(path, exc)) from exc
    # Checkpoints run in the writer (see db.Store._run_writer); the automatic one, which blocks a
    # commit, is kept only as a backstop.
    conn.execute("SET checkpoint_threshold = '64MiB'")
    if not fsync:
        conn.execute("SET fsync_mode = 'NONE'")
    lost = faults.wal_shortfall(conn, path, wal_at_open)
    if lost:
        copy = faults.keep_wal_copy(path)
        log.warning("%s: DuckDB replayed its WAL only in part: about %d of %d bytes were not replayed (a damaged "
                    "WAL; the writes in them are lost). A copy of the WAL is at %s", path, lost, wal_at_open, copy)
    return conn


def open_file(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A plain connection to a store file that no server holds (StoreLocked when one does)."""
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        if _locked(exc):
            raise _in_use(path) from exc
        raise


def scratch() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB of its own (to read Parquet files, say); close it after."""
    return duckdb.connect()
