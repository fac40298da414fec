"""Sessions and session membership: rows, peer configurations, deletes (soft: `is_active`), and what an
append needs to exist first (`ensure_for_append`, deferred to the group's end by the writer). Session
reads return `Session`s (`S_FIELDS`, in order, JSON columns decoded)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from honcho_local.store.db import WriteContext, utcnow, ws_tag
from honcho_local.store.events import keep_pk_floor
from honcho_local.store.filters import Column, compile_filters
from honcho_local.store.peers import P_FIELDS_OF_P, Peer, insert_peers, peer_row
from honcho_local.store.sql import Cursor, columns, dumps, fetch, replace_fields, rows_page, scalar
from honcho_local.store.workspaces import insert_workspaces

SESSION_COLUMNS = {
    "id": Column("s.id", "str"),
    "session_id": Column("s.id", "str"),
    "workspace_id": Column("s.workspace_id", "str"),
    "is_active": Column("s.is_active", "bool"),
    "created_at": Column("s.created_at", "datetime"),
    "metadata": Column("s.metadata", "json"),
}


_NAMES = ("workspace_id", "id", "is_active", "metadata", "configuration", "internal_metadata", "created_at")
S_FIELDS = ", ".join(_NAMES)
S_FIELDS_OF_S = ", ".join(f"s.{n}" for n in _NAMES)  # the same, from `sessions s`


class Session(msgspec.Struct, frozen=True):
    """A session as the reads return it (`S_FIELDS`, in order); a deleted one is inactive (`is_active`)."""

    workspace_id: str
    id: str
    is_active: bool
    metadata: dict[str, Any]
    configuration: dict[str, Any]
    internal_metadata: dict[str, Any]
    created_at: datetime


def session_row(r: tuple[Any, ...]) -> Session:
    """A `Session` from a row of `SELECT S_FIELDS` (or `S_FIELDS_OF_S`)."""
    return Session(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), json.loads(r[5]), r[6])


def get_session(cur: Cursor, workspace_id: str, session_id: str) -> Session | None:
    row = cur.execute(f"SELECT {S_FIELDS} FROM sessions WHERE workspace_id = ? AND id = ?",
                      [workspace_id, session_id]).fetchone()
    return None if row is None else session_row(row)


def ensure_session(ctx: WriteContext, workspace_id: str, session_id: str, metadata: dict | None = None,
                   configuration: dict | None = None) -> bool:
    key = ("session", workspace_id, session_id)
    if key in ctx.known:
        return False
    created = ctx.conn.execute(
        "INSERT INTO sessions VALUES (?, ?, true, ?, ?, '{}', ?) ON CONFLICT DO NOTHING RETURNING id",
        [workspace_id, session_id, dumps(metadata or {}), dumps(configuration or {}), utcnow()],
    ).fetchall()
    ctx.known.add(key)
    if created:
        ctx.touch(ws_tag(workspace_id))
    return bool(created)


def update_session(ctx: WriteContext, workspace_id: str, session_id: str, metadata: dict | None,
                   configuration: dict | None) -> None:
    replace_fields(ctx, "sessions", "workspace_id = ? AND id = ?", [workspace_id, session_id], metadata,
                    configuration)


def list_sessions(cur: Cursor, workspace_id: str, filters: Any, page_no: int, size: int, reverse: bool,
                  peer_id: str | None = None) -> tuple[list[Session], int]:
    where, params = compile_filters(filters, SESSION_COLUMNS)
    sql = f"SELECT {S_FIELDS_OF_S} FROM sessions s WHERE s.workspace_id = ? AND s.is_active AND {where}"
    args = [workspace_id, *params]
    if peer_id is not None:
        sql += (" AND EXISTS (SELECT 1 FROM session_peers m WHERE m.workspace_id = s.workspace_id "
                "AND m.session_id = s.id AND m.peer_id = ?)")
        args.append(peer_id)
    order = "s.created_at DESC, s.id DESC" if reverse else "s.created_at, s.id"
    return rows_page(cur, sql, args, order, page_no, size, session_row)


def delete_session(ctx: WriteContext, workspace_id: str, session_id: str) -> None:
    ctx.mark_mutation()
    keep_pk_floor(ctx)
    for table, col in (("events", "session_id"), ("message_embeddings", "session_id"), ("session_peers", "session_id"),
                       ("scope_sessions", "session_id"), ("sessions", "id")):
        ctx.conn.execute(f"DELETE FROM {table} WHERE workspace_id = ? AND {col} = ?", [workspace_id, session_id])
    ctx.known.clear()
    ctx.counters.clear()


def count_sessions(cur: Cursor, workspace_id: str) -> int:
    return scalar(cur.execute("SELECT count(*) FROM sessions WHERE workspace_id = ? AND is_active",
                              [workspace_id]))


def list_session_members(cur: Cursor, workspace_id: str, session_id: str, page_no: int,
                         size: int) -> tuple[list[Peer], int]:
    sql = (f"SELECT {P_FIELDS_OF_P} FROM peers p JOIN session_peers m ON m.workspace_id = p.workspace_id "
           "AND m.peer_id = p.id WHERE m.workspace_id = ? AND m.session_id = ? AND m.left_at IS NULL")
    return rows_page(cur, sql, [workspace_id, session_id], "m.joined_at, p.id", page_no, size, peer_row)


# ---- membership -------------------------------------------------------------------------------
def get_members(cur: Cursor, workspace_id: str, session_id: str, active_only: bool = True) -> list[dict[str, Any]]:
    sql = "SELECT * FROM session_peers WHERE workspace_id = ? AND session_id = ?"
    if active_only:
        sql += " AND left_at IS NULL"
    return fetch(cur, sql + " ORDER BY joined_at, peer_id", [workspace_id, session_id], set())


def upsert_member(ctx: WriteContext, workspace_id: str, session_id: str, peer_id: str,
                  observe_me: bool | None, observe_others: bool | None, keep_config: bool = False) -> None:
    """Add or re-activate a member. With `keep_config`, an existing member keeps its settings."""
    if keep_config:
        ctx.conn.execute(
            "INSERT INTO session_peers VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT DO UPDATE SET left_at = NULL",
            [workspace_id, session_id, peer_id, observe_me, observe_others, utcnow()],
        )
    else:
        ctx.conn.execute(
            "INSERT INTO session_peers VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT DO UPDATE SET "
            "left_at = NULL, observe_me = excluded.observe_me, observe_others = excluded.observe_others",
            [workspace_id, session_id, peer_id, observe_me, observe_others, utcnow()],
        )
    ctx.known.add(("member", workspace_id, session_id, peer_id))
    ctx.touch(ws_tag(workspace_id))


def ensure_for_append(ctx: WriteContext, workspace_id: str, session_id: str, peer_ids: list[str]) -> None:
    """The message path's get-or-create: the workspace, the session, each sender as a peer and as an
    active session member. What the writer does not already know to exist joins the group's pending
    rows (`WriteContext.defer`), so a group that first writes to many new sessions inserts them with
    one statement per table, beside its one events insert, instead of four statements per request
    (a cold run's first groups took 120-170 ms that way). A row that already exists is left alone
    (ON CONFLICT DO NOTHING); a member who had left is made active again with its settings kept.
    Without knowing whether a row was new, the workspace's read-cache tag is touched once per row
    the writer first meets."""
    wanted = [("ensure_workspaces", "ws", (workspace_id,)), ("ensure_sessions", "session", (workspace_id, session_id))]
    for peer_id in peer_ids:
        wanted += [("ensure_peers", "peer", (workspace_id, peer_id)),
                   ("ensure_members", "member", (workspace_id, session_id, peer_id))]
    new = False
    for kind, tag, row in wanted:
        key = (tag, *row)  # the keys `ensure_workspace` and the others keep in `ctx.known`
        if key not in ctx.known:
            ctx.known.add(key)
            ctx.defer(kind, [row], _ENSURE_FLUSHERS[kind])
            new = True
    if new:
        ctx.touch(ws_tag(workspace_id))


def insert_sessions(conn: Cursor, rows: list[tuple[str, str]]) -> None:
    conn.execute("INSERT INTO sessions SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), true, '{}', '{}', '{}', ? "
                 "ON CONFLICT DO NOTHING", [*columns(rows), utcnow()])


def insert_members(conn: Cursor, rows: list[tuple[str, str, str]]) -> None:
    conn.execute("INSERT INTO session_peers SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
                 "NULL, NULL, ?, NULL ON CONFLICT DO UPDATE SET left_at = NULL WHERE session_peers.left_at IS NOT NULL",
                 [*columns(rows), utcnow()])


_ENSURE_FLUSHERS: dict[str, Callable[[Cursor, list[Any]], None]] = {
    "ensure_workspaces": insert_workspaces, "ensure_sessions": insert_sessions,
    "ensure_peers": insert_peers, "ensure_members": insert_members}


def remove_members(ctx: WriteContext, workspace_id: str, session_id: str, peer_ids: list[str]) -> None:
    if not peer_ids:
        return
    marks = ", ".join("?" for _ in peer_ids)
    ctx.conn.execute(
        f"UPDATE session_peers SET left_at = ? WHERE workspace_id = ? AND session_id = ? "
        f"AND peer_id IN ({marks}) AND left_at IS NULL",
        [utcnow(), workspace_id, session_id, *peer_ids],
    )
    ctx.touch(ws_tag(workspace_id))
    for peer_id in peer_ids:
        ctx.known.discard(("member", workspace_id, session_id, peer_id))


def set_member_config(ctx: WriteContext, workspace_id: str, session_id: str, peer_id: str,
                      observe_me: bool | None, observe_others: bool | None, fields: set[str]) -> None:
    sets, params = [], []
    if "observe_me" in fields:
        sets.append("observe_me = ?")
        params.append(observe_me)
    if "observe_others" in fields:
        sets.append("observe_others = ?")
        params.append(observe_others)
    if sets:
        ctx.conn.execute(
            f"UPDATE session_peers SET {', '.join(sets)} WHERE workspace_id = ? AND session_id = ? AND peer_id = ?",
            [*params, workspace_id, session_id, peer_id],
        )
        ctx.touch(ws_tag(workspace_id))


def count_observers(cur: Cursor, workspace_id: str, session_id: str) -> int:
    return scalar(cur.execute(
        "SELECT count(*) FROM session_peers WHERE workspace_id = ? AND session_id = ? "
        "AND left_at IS NULL AND observe_others",
        [workspace_id, session_id],
    ))
