"""Session summaries (short and long): appended with their history; the newest row at or before `as_of`
is current."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from honcho_local.ids import new_id
from honcho_local.store.db import WriteContext, summaries_tag, utcnow
from honcho_local.store.sql import Cursor, fetch


def current_summaries(cur: Cursor, workspace_id: str, session_id: str, version: str,
                      as_of: datetime | None = None) -> dict[str, dict[str, Any]]:
    """The newest summary of each type (`short`, `long`) for a session, as of a moment."""
    sql = ("SELECT summary_type, content, message_id, last_event_pk, token_count, created_at FROM summaries "
           "WHERE workspace_id = ? AND session_id = ? AND version = ?")
    args: list[Any] = [workspace_id, session_id, version]
    if as_of is not None:
        sql += " AND created_at <= ?"
        args.append(as_of)
    sql += " QUALIFY row_number() OVER (PARTITION BY summary_type ORDER BY created_at DESC, last_event_pk DESC) = 1"
    return {r["summary_type"]: r for r in fetch(cur, sql, args, set())}


def latest_summary(cur: Cursor, workspace_id: str, session_id: str, summary_type: str,
                   version: str) -> dict[str, Any] | None:
    rows = fetch(cur, "SELECT * FROM summaries WHERE workspace_id = ? AND session_id = ? AND summary_type = ? "
                  "AND version = ? ORDER BY last_event_pk DESC, created_at DESC LIMIT 1",
                  [workspace_id, session_id, summary_type, version], set())
    return rows[0] if rows else None


def insert_summary(ctx: WriteContext, workspace_id: str, session_id: str, summary_type: str, content: str,
                   last_event_pk: int, message_id: str, token_count: int, version: str) -> None:
    ctx.touch(summaries_tag(workspace_id, session_id))
    if not ctx.conn.execute("SELECT 1 FROM events WHERE workspace_id = ? AND session_id = ? AND id = ?",
                            [workspace_id, session_id, message_id]).fetchall():
        return  # its last message was deleted while it was written (`store/forget.py`)
    ctx.conn.execute("INSERT INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [new_id(), workspace_id, session_id, summary_type, content, last_event_pk, message_id,
                      token_count, version, utcnow()])
