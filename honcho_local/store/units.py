"""Work units and their cursors: the durable truth of what the worker has reasoned.

A unit is `representation:{version}:{workspace}:{session}:{observed}` or
`summary:{version}:{workspace}:{session}`. Its cursor is the last event (log `pk`) it has fully
processed. A unit lags when its session holds a relevant message past the cursor; the sweep finds
lagging units with one query over the log, so a task lost in a crash is found again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from honcho_local.store import connection
from honcho_local.store.db import WriteContext, utcnow
from honcho_local.store.sql import Cursor, fetch, one, scalar

MAX_BACKOFF = timedelta(hours=1)  # the longest a failed unit waits for its next try


@dataclass(frozen=True)
class UnitKey:
    kind: str
    version: str
    workspace_id: str
    session_id: str
    observed_id: str | None = None

    def __str__(self) -> str:
        parts = [self.kind, self.version, self.workspace_id, self.session_id]
        if self.observed_id is not None:
            parts.append(self.observed_id)
        return ":".join(parts)

    @classmethod
    def parse(cls, key: str) -> UnitKey:
        parts = key.split(":")
        if parts[0] == "representation" and len(parts) == 5:
            return cls(*parts)
        if parts[0] == "summary" and len(parts) == 4:
            return cls(*parts)
        raise ValueError(f"not a work-unit key: {key!r}")


_HEADS = """
    SELECT 'representation' AS kind, workspace_id, session_id, peer_id AS observed_id, max(pk) AS head,
           min(pk) AS first
    FROM events WHERE kind = 'message' {where} GROUP BY workspace_id, session_id, peer_id
    UNION ALL
    SELECT 'summary', workspace_id, session_id, NULL, max(pk), min(pk)
    FROM events WHERE kind = 'message' {where} GROUP BY workspace_id, session_id
"""


def unit_heads(cur: Cursor, version: str, workspace_id: str | None = None,
               session_id: str | None = None) -> list[dict[str, Any]]:
    """Every unit the log implies, with its head (last relevant pk), cursor, status and error."""
    where, args = "", []
    if workspace_id is not None:
        where += " AND workspace_id = ?"
        args.append(workspace_id)
    if session_id is not None:
        where += " AND session_id = ?"
        args.append(session_id)
    sql = f"""
        WITH heads AS ({_HEADS.format(where=where)})
        SELECT h.kind, h.workspace_id, h.session_id, h.observed_id, h.head, h.first,
               coalesce(u.cursor_pk, 0) AS cursor_pk, coalesce(u.status, 'ok') AS status, u.error,
               coalesce(u.attempts, 0) AS attempts, u.next_attempt_at
        FROM heads h LEFT JOIN work_units u
          ON u.key = h.kind || ':' || ? || ':' || h.workspace_id || ':' || h.session_id
                     || CASE WHEN h.observed_id IS NULL THEN '' ELSE ':' || h.observed_id END
    """
    rows = fetch(cur, sql, [*args, *args, version], set())
    for row in rows:
        row["key"] = str(UnitKey(row["kind"], version, row["workspace_id"], row["session_id"], row["observed_id"]))
    return rows


def lagging_units(cur: Cursor, version: str, now: datetime | None = None, waiting: bool = False) -> list[str]:
    """Keys of units whose cursor is behind the log and that may run now (failed ones only after their
    backoff, unless `waiting` asks for those too), oldest unprocessed message first: a unit left behind
    (a stop mid-run) comes before the sessions written after it."""
    now = now or utcnow()
    rows = [r for r in unit_heads(cur, version)
            if r["head"] > r["cursor_pk"] and (waiting or r["next_attempt_at"] is None or r["next_attempt_at"] <= now)]
    rows.sort(key=lambda r: (max(r["cursor_pk"] + 1, r["first"]), r["kind"] != "representation", r["key"]))
    return [r["key"] for r in rows]


def get_unit(cur: Cursor, key: str) -> dict[str, Any] | None:
    rows = fetch(cur, "SELECT * FROM work_units WHERE key = ?", [key], set())
    return rows[0] if rows else None


def advance(ctx: WriteContext, key: UnitKey, cursor_pk: int) -> None:
    """Move the cursor forward and clear any failure (in the same transaction as the unit's output)."""
    advance_rows(ctx.conn, [(key, cursor_pk)])


def advance_later(ctx: WriteContext, key: UnitKey, cursor_pk: int) -> None:
    """`advance`, deferred: the cursors advanced by one commit group go in as one upsert (`advance_rows`)."""
    ctx.defer("unit_cursors", [(key, cursor_pk)], advance_rows)


def advance_rows(conn: Any, rows: list[tuple[UnitKey, int]]) -> None:
    """One upsert for any number of cursor advances (`advance`, `advance_later`)."""
    latest: dict[str, tuple[UnitKey, int]] = {}
    for key, cursor in rows:  # one row per unit: an upsert must not meet the same key twice
        text = str(key)
        if text not in latest or latest[text][1] < cursor:
            latest[text] = (key, cursor)
    keys = [k for k, _ in latest.values()]
    conn.execute(
        "INSERT INTO work_units SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
        "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::BIGINT[]), 'ok', NULL, 0, "
        "NULL, ? ON CONFLICT DO UPDATE SET "
        "cursor_pk = greatest(work_units.cursor_pk, excluded.cursor_pk), status = 'ok', error = NULL, "
        "attempts = 0, next_attempt_at = NULL, updated_at = excluded.updated_at",
        [list(latest), [k.kind for k in keys], [k.version for k in keys], [k.workspace_id for k in keys],
         [k.session_id for k in keys], [k.observed_id for k in keys], [c for _, c in latest.values()], utcnow()])


def mark_failed(ctx: WriteContext, key: UnitKey, error: str, backoff: timedelta,
                longest: timedelta = MAX_BACKOFF) -> int:
    """Record a failure; the sweep retries the unit after `backoff`, doubled per further failure (at
    most `longest`). Returns the attempt count."""
    now = utcnow()
    attempts = scalar(ctx.conn.execute(
        "INSERT INTO work_units VALUES (?, ?, ?, ?, ?, ?, 0, 'failed', ?, 1, ?, ?) ON CONFLICT DO UPDATE SET "
        "status = 'failed', error = excluded.error, attempts = work_units.attempts + 1, "
        "updated_at = excluded.updated_at RETURNING attempts",
        [str(key), key.kind, key.version, key.workspace_id, key.session_id, key.observed_id, error[:2000],
         now + min(backoff, longest), now]))
    delay = timedelta(seconds=min(longest.total_seconds(), backoff.total_seconds() * 2 ** min(attempts - 1, 32)))
    ctx.conn.execute("UPDATE work_units SET next_attempt_at = ? WHERE key = ?", [now + delay, str(key)])
    return attempts


def in_backoff(unit: dict[str, Any] | None, now: datetime | None = None) -> bool:
    """Whether a unit (a `get_unit` row) failed and waits for its retry: it is not run before then."""
    if unit is None or unit["status"] != "failed" or unit["next_attempt_at"] is None:
        return False
    return bool(unit["next_attempt_at"] > (now or utcnow()))


def record_run(ctx: WriteContext, row: dict[str, Any]) -> None:
    """One reasoning call, successful, empty or failed: never silent."""
    cols = ["id", "unit_key", "version", "task", "status", "first_event_pk", "last_event_pk", "events",
            "prompt_tokens", "completion_tokens", "seconds", "outputs", "provider", "model", "fallback_used",
            "error", "raw_output", "created_at"]
    ctx.conn.execute(f"INSERT INTO reasoning_runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                     [row.get(c) for c in cols])


def reasoning_cost(db_path: Path, workspaces: list[str]) -> dict[str, Any] | None:
    """What the worker's model calls cost for these workspaces, from a DuckDB file no server holds
    open (read-only): per task the calls, failed calls, prompt and completion tokens and seconds, plus
    the workspaces' messages and live conclusions. None when the file cannot be opened."""
    try:
        db = connection.open_file(db_path, read_only=True)
    except duckdb.Error:
        return None
    marks = ", ".join("?" for _ in workspaces)
    try:
        by_task = db.execute(
            # model calls only: the worker's peer-card rows record a card built without one
            f"SELECT task, count(*) FILTER (model IS NOT NULL OR status = 'failed'), "
            f"count(*) FILTER (status = 'failed'), sum(prompt_tokens), sum(completion_tokens), "
            f"sum(seconds) FROM reasoning_runs WHERE split_part(unit_key, ':', 3) IN ({marks}) GROUP BY task "
            "ORDER BY task", workspaces).fetchall()
        messages = scalar(db.execute(
            f"SELECT count(*) FROM events WHERE workspace_id IN ({marks}) AND kind = 'message'", workspaces))
        conclusions = scalar(db.execute(
            f"SELECT count(*) FROM conclusions WHERE workspace_id IN ({marks}) AND deleted_at IS NULL",
            workspaces))
    finally:
        db.close()
    return {"messages": messages, "conclusions": conclusions,
            "by_task": {r[0]: {"calls": r[1], "failed": r[2], "prompt_tokens": r[3], "completion_tokens": r[4],
                               "seconds": r[5]} for r in by_task}}


def recent_runs(cur: Cursor, version: str, since: datetime) -> dict[str, Any]:
    """What the worker's runs of `version` did since `since` (from `reasoning_runs`): messages reasoned,
    conclusions derived, summaries and peer cards written, model calls (failed ones too) and their seconds."""
    row = one(cur.execute(
        "SELECT coalesce(sum(events) FILTER (task = 'deriver' AND status <> 'failed'), 0), "
        "coalesce(sum(outputs) FILTER (task = 'deriver' AND status <> 'failed'), 0), "
        "count(*) FILTER (task LIKE 'summary_%' AND status = 'ok'), "
        "count(*) FILTER (task = 'peer_card'), "
        "count(*) FILTER (model IS NOT NULL OR status = 'failed'), count(*) FILTER (status = 'failed'), "
        "coalesce(sum(seconds), 0) FROM reasoning_runs WHERE version = ? AND created_at >= ?",
        [version, since]))
    names = ("messages_reasoned", "conclusions_derived", "summaries_written", "peer_cards_written", "model_calls",
             "failed_calls", "model_seconds")
    return dict(zip(names, row))
