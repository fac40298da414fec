"""The append-only event log: messages and other event kinds, in log order (`pk`) and per-session
order (`seq`). Content is never updated; `metadata` alone may be replaced.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from honcho_local import metrics
from honcho_local.ids import new_ids
from honcho_local.store.db import WriteContext, append_rows, log_tag, utcnow
from honcho_local.store.filters import Column, compile_filters
from honcho_local.store.resources import Cursor, _fetch, dumps, page
from honcho_local.store.sql import scalar

MESSAGE_COLUMNS = {
    "id": Column("id", "str"),
    "workspace_id": Column("workspace_id", "str"),
    "session_id": Column("session_id", "str"),
    "peer_id": Column("peer_id", "str"),
    "token_count": Column("token_count", "int"),
    "created_at": Column("created_at", "datetime"),
    "metadata": Column("metadata", "json"),
}
EVENT_COLUMNS = {**MESSAGE_COLUMNS, "kind": Column("kind", "str"), "seq": Column("seq", "int")}
_JSON = {"metadata", "configuration"}
SELECT = ("SELECT pk, id, workspace_id, session_id, peer_id, kind, seq, content, metadata, configuration, "
          "token_count, created_at FROM events")


@dataclass
class NewEvent:
    """An event ready to append: validated and with its token count; ids are assigned on append."""

    peer_id: str
    content: str
    kind: str
    metadata: dict[str, Any]
    configuration: dict[str, Any] | None
    token_count: int
    created_at: datetime | None


def append(ctx: WriteContext, workspace_id: str, session_id: str, events: list[NewEvent]) -> list[dict[str, Any]]:
    """Append events to a session's log (inserted with the rest of the group at commit); returns the rows."""
    n = len(events)
    # The counters are loaded only while unknown, and an event appended in this context sets them: no
    # pending row can be in what these reads see, so they run without flushing (`WriteContext.lookup`)
    # and a group writing to many new sessions still inserts its events with one statement.
    first_pk = ctx.next_value(("pk",), lambda: scalar(ctx.lookup(
        "SELECT greatest((SELECT coalesce(max(pk), 0) FROM events), "
        "(SELECT coalesce(max(value), 0) FROM log_state WHERE key = 'pk_floor'))")), n)
    first_seq = ctx.next_value(
        ("seq", workspace_id, session_id),
        lambda: scalar(ctx.lookup("SELECT coalesce(max(seq), 0) FROM events WHERE workspace_id = ? AND session_id = ?",
                                  [workspace_id, session_id])),
        n,
    )
    now = utcnow()
    ids = new_ids(n)
    rows = [
        {
            "pk": first_pk + i, "id": ids[i], "workspace_id": workspace_id, "session_id": session_id,
            "peer_id": e.peer_id, "kind": e.kind, "seq": first_seq + i, "content": e.content,
            "metadata": e.metadata, "configuration": e.configuration, "token_count": e.token_count,
            "created_at": e.created_at or now,
        }
        for i, e in enumerate(events)
    ]
    ctx.defer("events", rows, insert_event_rows)
    for r in reversed(rows):
        if r["kind"] == "message":
            ctx.heads[(workspace_id, session_id)] = r["pk"]
            break
    ctx.touch(log_tag(workspace_id, session_id))
    ctx.after_commit.append(lambda: _count(rows))
    return rows


def _count(rows: list[dict[str, Any]]) -> None:
    for kind, n in Counter(r["kind"] for r in rows).items():
        metrics.EVENTS_WRITTEN.labels(kind).inc(n)


def insert_event_rows(conn: Any, rows: list[dict[str, Any]]) -> None:
    """One statement for any number of events (`db.append_rows`, DuckDB's appender). Each row gets its
    `recorded_at`, so commit listeners hold the rows as stored.

    Not numpy columns through DuckDB's replacement scan: alone, that was a quarter faster than the
    list-parameter INSERT used before (1.35 against 1.82 ms for 8 rows); in the server, single-message
    groups took 7.1 ms against 5.2 (the scan reads Python objects, so DuckDB's threads take the GIL the
    event loop holds)."""
    now = utcnow()
    for r in rows:
        r["recorded_at"] = now
    append_rows(conn, "events", [
        (r["pk"], r["id"], r["workspace_id"], r["session_id"], r["peer_id"], r["kind"], r["seq"], r["content"],
         dumps(r["metadata"]), None if r["configuration"] is None else dumps(r["configuration"]), r["token_count"],
         r["created_at"], now)
        for r in rows])


def last_pk_before(cur: Cursor, workspace_id: str, session_id: str, moment: datetime) -> int:
    """The log position of a session's last event created before `moment` (0 when none)."""
    return int(scalar(cur.execute("SELECT coalesce(max(pk), 0) FROM events WHERE workspace_id = ? AND session_id = ? "
                                  "AND created_at < ?", [workspace_id, session_id, moment])))


def get_event(cur: Cursor, workspace_id: str, session_id: str, event_id: str,
              kind: str | None = "message") -> dict[str, Any] | None:
    sql = f"{SELECT} WHERE workspace_id = ? AND session_id = ? AND id = ?"
    params: list[Any] = [workspace_id, session_id, event_id]
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    rows = _fetch(cur, sql, params, _JSON)
    return rows[0] if rows else None


def list_events(cur: Cursor, workspace_id: str, session_id: str, filters: Any, page_no: int, size: int,
                reverse: bool, kinds: list[str] | None = None):
    columns = MESSAGE_COLUMNS if kinds == ["message"] else EVENT_COLUMNS
    where, params = compile_filters(filters, columns)
    sql = f"{SELECT} WHERE workspace_id = ? AND session_id = ? AND {where}"
    args: list[Any] = [workspace_id, session_id, *params]
    if kinds:
        sql += f" AND kind IN ({', '.join('?' for _ in kinds)})"
        args.extend(kinds)
    # one transaction: the total and the page come from one snapshot while writes land
    cur.execute("BEGIN TRANSACTION")
    try:
        return page(cur, sql, args, "pk DESC" if reverse else "pk", page_no, size, _JSON)
    finally:
        cur.execute("ROLLBACK")  # a read-only transaction: ending it (also after an error, where COMMIT fails)


def update_metadata(ctx: WriteContext, workspace_id: str, session_id: str, event_id: str,
                    metadata: dict[str, Any]) -> bool:
    changed = ctx.conn.execute(
        "UPDATE events SET metadata = ? WHERE workspace_id = ? AND session_id = ? AND id = ? RETURNING pk",
        [dumps(metadata), workspace_id, session_id, event_id],
    ).fetchall()
    ctx.mark_updated([r[0] for r in changed])
    ctx.touch(log_tag(workspace_id, session_id))
    return bool(changed)


def copy_session_events(ctx: WriteContext, workspace_id: str, source: str, target: str,
                        up_to_pk: int | None) -> int:
    """Copy a session's events (up to and including `up_to_pk`) into another session, new ids."""
    sql = f"{SELECT} WHERE workspace_id = ? AND session_id = ?"
    params: list[Any] = [workspace_id, source]
    if up_to_pk is not None:
        sql += " AND pk <= ?"
        params.append(up_to_pk)
    rows = _fetch(ctx.conn, sql + " ORDER BY pk", params, _JSON)
    for start in range(0, len(rows), 1000):
        chunk = rows[start:start + 1000]
        append(ctx, workspace_id, target, [
            NewEvent(r["peer_id"], r["content"], r["kind"], r["metadata"], r["configuration"],
                     r["token_count"], r["created_at"]) for r in chunk
        ])
    return len(rows)
