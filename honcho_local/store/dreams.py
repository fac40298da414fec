"""The record of dreams (m009), the dreams asked for and not yet run (m010), and what the automatic trigger
reads: pairs with new explicit conclusions since their last dream, and when each workspace last took a
message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from honcho_local.store.db import WriteContext, utcnow
from honcho_local.store.sql import Cursor, dumps


def record_dream(ctx: WriteContext, workspace_id: str, observer_id: str, observed_id: str, version: str,
                 dream_type: str, trigger: str, outcome: dict[str, Any]) -> None:
    ctx.conn.execute("INSERT INTO dreams VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     [workspace_id, observer_id, observed_id, version, dream_type, trigger, dumps(outcome), utcnow()])


def due_pairs(cur: Cursor, min_new: int, dreamt_before: datetime) -> list[tuple[str, str, str, str, int]]:
    """(workspace, observer, observed, version, new conclusions) of every pair holding at least `min_new`
    live explicit conclusions made since its last dream (all of them if it never dreamt), whose last dream
    finished before `dreamt_before`."""
    return cur.execute(
        "WITH last AS (SELECT workspace_id, observer_id, observed_id, version, max(finished_at) AS at FROM dreams "
        "GROUP BY ALL) "
        "SELECT c.workspace_id, c.observer_id, c.observed_id, c.version, count(*) FROM conclusions c "
        "LEFT JOIN last l ON l.workspace_id = c.workspace_id AND l.observer_id = c.observer_id "
        "AND l.observed_id = c.observed_id AND l.version = c.version "
        "WHERE c.deleted_at IS NULL AND c.level = 'explicit' AND (l.at IS NULL OR (c.created_at > l.at AND l.at < ?)) "
        "GROUP BY ALL HAVING count(*) >= ? ORDER BY 1, 2, 3", [dreamt_before, min_new]).fetchall()


def last_message_at(cur: Cursor, workspace_ids: list[str]) -> dict[str, datetime]:
    """When each workspace last stored a message or event (server time)."""
    if not workspace_ids:
        return {}
    marks = ", ".join("?" for _ in workspace_ids)
    rows = cur.execute(f"SELECT workspace_id, max(recorded_at) FROM events WHERE workspace_id IN ({marks}) "
                       "GROUP BY workspace_id", workspace_ids).fetchall()
    return {r[0]: r[1] for r in rows}


REQUEST_FIELDS = "workspace_id, observer_id, observed_id, dream_type, session_id, rebuild"


def request_dream(ctx: WriteContext, workspace_id: str, observer_id: str, observed_id: str, dream_type: str,
                  session_id: str | None, rebuild: bool) -> bool:
    """Store a dream request; False when the same pair and type already has one waiting (Honcho's no-op)."""
    rows = ctx.conn.execute(f"INSERT INTO dream_requests ({REQUEST_FIELDS}, requested_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                            "ON CONFLICT DO NOTHING RETURNING workspace_id",
                            [workspace_id, observer_id, observed_id, dream_type, session_id, rebuild,
                             utcnow()]).fetchall()
    return bool(rows)


def pending_requests(cur: Cursor, workspace_id: str | None = None) -> list[tuple[str, str, str, str, str | None, bool]]:
    """The waiting requests (`REQUEST_FIELDS`), oldest first; of one workspace when given."""
    where, args = ("WHERE workspace_id = ?", [workspace_id]) if workspace_id is not None else ("", [])
    return cur.execute(f"SELECT {REQUEST_FIELDS} FROM dream_requests {where} ORDER BY requested_at",
                       args).fetchall()


def finish_request(ctx: WriteContext, workspace_id: str, observer_id: str, observed_id: str, dream_type: str) -> None:
    ctx.conn.execute("DELETE FROM dream_requests WHERE workspace_id = ? AND observer_id = ? AND observed_id = ? "
                     "AND dream_type = ?", [workspace_id, observer_id, observed_id, dream_type])
