"""What can go wrong under the store's files, told apart and said plainly (issue 31).

- **A full disk.** A commit that cannot write the WAL fails with ENOSPC; DuckDB rolls it back and the
  next commit works once space is back. A *checkpoint* that cannot write the database file is worse:
  DuckDB invalidates the whole database (reads too) until it is opened again. So the writer skips a
  checkpoint while the disk lacks room for it (`has_room`), fails writes with `StorageFull` (HTTP 507),
  reports the state in `StoreHealth` (`/health` answers 503 while it lasts), and reopens the file when
  DuckDB invalidated it anyway.
- **A WAL DuckDB could not replay to its end.** DuckDB stops replaying at the first entry it cannot
  read and carries on silently (a damaged WAL header drops every entry in it); the next commit then
  truncates the WAL. `wal_shortfall` compares what DuckDB replayed with the file's size at open; the
  store keeps a copy of the WAL and logs a warning naming both.
- **A corrupt database file**: `StoreCorrupt`, one line naming the file and the fix (restore a backup;
  for a corrupt WAL, moving it aside keeps everything checkpointed).
- **Corrupt derived files** (the queue's SQLite file, the lexical index folder): rebuilt from the store,
  so a corrupt one is moved aside (`move_aside`, one warning naming it) and started afresh.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import duckdb

from honcho_local.errors import StorageFull, StoreCorrupt, StoreUnavailable

log = logging.getLogger(__name__)
_NO_SPACE = ("no space left on device", "disk quota exceeded", "disk is full", "not enough space on the disk")
_UNITS = {"bytes": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "TiB": 1024 ** 4}
ROOM_MARGIN = 4 * 1024 * 1024  # free space a checkpoint needs beyond twice the WAL's size


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC or EDQUOT, raised by DuckDB (as text in its message) or by the OS."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _NO_SPACE)


def is_invalidated(exc: BaseException) -> bool:
    """DuckDB gave up on the open database (a fatal error, e.g. a checkpoint that could not write)."""
    return isinstance(exc, duckdb.FatalException) or "database has been invalidated" in str(exc)


def has_room(path: Path, wal_bytes: int) -> bool:
    """Free space for a checkpoint folding `wal_bytes` of WAL into `path` (it writes new blocks first)."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return True
    return free >= 2 * wal_bytes + ROOM_MARGIN


def wal_size(path: Path) -> int:
    try:
        return wal_path(path).stat().st_size
    except OSError:
        return 0


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def replayed_wal_bytes(conn: duckdb.DuckDBPyConnection) -> int | None:
    """The WAL size DuckDB holds after opening (what it replayed), from `pragma_database_size`'s
    rounded text ("1.3 KiB"): an upper bound, the rounding added. None when it cannot be read."""
    text = conn.execute("SELECT wal_size FROM pragma_database_size() WHERE database_name = current_database()").fetchall()[0][0]
    match = re.fullmatch(r"([\d.]+)\s*(\w+)", str(text).strip())
    if match is None or match.group(2) not in _UNITS:
        return None
    unit = _UNITS[match.group(2)]
    return int((float(match.group(1)) + (0.05 if unit > 1 else 0)) * unit)


def wal_shortfall(conn: duckdb.DuckDBPyConnection, path: Path, size_at_open: int) -> int:
    """Bytes of the WAL found at open that DuckDB did not replay (0: all of it, or no WAL). A WAL that
    is gone or shorter after opening was checkpointed by DuckDB itself (a large one is, at open)."""
    if size_at_open <= 0 or wal_size(path) < size_at_open:
        return 0
    replayed = replayed_wal_bytes(conn)
    if replayed is None:
        return 0
    return max(0, size_at_open - replayed)


def keep_wal_copy(path: Path) -> Path | None:
    """Copy the WAL aside (before the first commit truncates it) for whoever investigates."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.wal.unreplayed-{stamp}")
    try:
        shutil.copy2(wal_path(path), target)
    except OSError:
        return None
    return target


def open_error(path: Path, exc: BaseException) -> StoreCorrupt:
    """A file DuckDB cannot open: one line naming it and the fix."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    restore = "restore it from a backup (`honcho-local restore BACKUP_DIR --home NEW_HOME`, see docs/admin.md)"
    if "wal" in first.lower():
        return StoreCorrupt(f"cannot open the store {path}: its WAL {wal_path(path)} is damaged ({first}). Move the "
                            f"WAL aside to open the store without the writes only it holds, or {restore}")
    return StoreCorrupt(f"cannot open the store {path}: {first}. The file is damaged: {restore}")


def move_aside(path: Path, why: str) -> Path:
    """Rename a corrupt derived file or folder to `<name>.corrupt-<time>` (kept for inspection) and say so."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.rename(target)
    log.warning("%s is corrupt (%s): moved aside to %s; it is rebuilt from the store", path, why, target.name)
    return target


class StoreHealth:
    """The store's state for `/health`: None while writes work, else what is wrong and since when."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problem: tuple[str, str, dt.datetime] | None = None  # (kind, detail, since)

    def set(self, kind: str, detail: str) -> None:
        with self._lock:
            since = self._problem[2] if self._problem and self._problem[0] == kind else None
            self._problem = (kind, detail, since or dt.datetime.now(dt.UTC))

    def clear(self) -> None:
        with self._lock:
            self._problem = None

    @property
    def kind(self) -> str | None:
        problem = self._problem
        return problem[0] if problem else None

    def snapshot(self) -> dict[str, Any] | None:
        problem = self._problem
        if problem is None:
            return None
        kind, detail, since = problem
        return {"problem": kind, "detail": detail, "since": since.isoformat()}


def full_error(path: Path, exc: BaseException) -> StorageFull:
    return StorageFull(f"the disk holding {path.parent} is full ({_first_line(exc)}): the write was not stored. "
                       f"Free some space; writes resume without a restart")


def unavailable_error(path: Path, exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"the store {path} is being reopened after an error ({_first_line(exc)}); "
                            f"try again shortly")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("FATAL Error: Failed: database has been invalidated"):
            return line.removeprefix("Original error: ").strip('"')
    return type(exc).__name__
