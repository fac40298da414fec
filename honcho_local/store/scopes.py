"""Scopes (Honcho 3.1+): named sets of a workspace's sessions that confine recall.

`scopes` holds each scope (id, metadata, created_at); `scope_sessions` its member sessions, in the order
they joined. A session delete takes its memberships, a workspace delete its scopes.
"""

from __future__ import annotations

import json
from typing import Any

from honcho_local.store.db import WriteContext, utcnow, ws_tag
from honcho_local.store.sessions import S_FIELDS_OF_S, Session, session_row
from honcho_local.store.sql import Cursor, dumps, rows_page

_FIELDS = "id, metadata, created_at"


def _scope(r: tuple[Any, ...]) -> dict[str, Any]:
    """A scope (id, metadata, created_at) from a row of `SELECT _FIELDS`."""
    return {"id": r[0], "metadata": json.loads(r[1]), "created_at": r[2]}


def get_scope(cur: Cursor, workspace_id: str, scope_id: str) -> dict[str, Any] | None:
    row = cur.execute(f"SELECT {_FIELDS} FROM scopes WHERE workspace_id = ? AND id = ?",
                      [workspace_id, scope_id]).fetchone()
    return None if row is None else _scope(row)


def ensure_scope(ctx: WriteContext, workspace_id: str, scope_id: str, metadata: dict | None = None) -> bool:
    """Create the scope if it does not exist (True when created); an existing one is left as it is."""
    created = ctx.conn.execute(
        "INSERT INTO scopes VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
        [workspace_id, scope_id, dumps(metadata or {}), utcnow()]).fetchall()
    if created:
        ctx.touch(ws_tag(workspace_id))
    return bool(created)


def list_scopes(cur: Cursor, workspace_id: str, page_no: int, size: int, reverse: bool):
    order = "created_at DESC, id DESC" if reverse else "created_at, id"
    return rows_page(cur, f"SELECT {_FIELDS} FROM scopes WHERE workspace_id = ?", [workspace_id], order, page_no,
                     size, _scope)


def add_sessions(ctx: WriteContext, workspace_id: str, scope_id: str, session_ids: list[str]) -> None:
    """Members from now on; a session already a member keeps the moment it joined."""
    now = utcnow()
    for session_id in dict.fromkeys(session_ids):
        ctx.conn.execute("INSERT INTO scope_sessions VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                         [workspace_id, scope_id, session_id, now])
    ctx.touch(ws_tag(workspace_id))


def remove_session(ctx: WriteContext, workspace_id: str, scope_id: str, session_id: str) -> None:
    ctx.conn.execute("DELETE FROM scope_sessions WHERE workspace_id = ? AND scope_id = ? AND session_id = ?",
                     [workspace_id, scope_id, session_id])
    ctx.touch(ws_tag(workspace_id))


def member_rows(cur: Cursor, workspace_id: str, scope_id: str) -> list[tuple[str, Any]]:
    """(session id, joined at) of the scope's active member sessions, longest-standing first."""
    return cur.execute(
        "SELECT m.session_id, m.added_at FROM scope_sessions m JOIN sessions s ON s.workspace_id = m.workspace_id "
        "AND s.id = m.session_id AND s.is_active WHERE m.workspace_id = ? AND m.scope_id = ? "
        "ORDER BY m.added_at, m.session_id", [workspace_id, scope_id]).fetchall()


def union_of(cur: Cursor, workspace_id: str, scope_ids: list[str]) -> tuple[set[str], list[str]]:
    """(the scopes among `scope_ids` that exist, the active member sessions of all of them): two queries
    whatever the number of scopes."""
    marks = ", ".join("?" for _ in scope_ids)
    found = {r[0] for r in cur.execute(f"SELECT id FROM scopes WHERE workspace_id = ? AND id IN ({marks})",
                                       [workspace_id, *scope_ids]).fetchall()}
    sessions = [r[0] for r in cur.execute(
        "SELECT DISTINCT m.session_id FROM scope_sessions m JOIN sessions s ON s.workspace_id = m.workspace_id "
        f"AND s.id = m.session_id AND s.is_active WHERE m.workspace_id = ? AND m.scope_id IN ({marks}) "
        "ORDER BY m.session_id", [workspace_id, *scope_ids]).fetchall()]
    return found, sessions


def list_sessions(cur: Cursor, workspace_id: str, scope_id: str, page_no: int, size: int,
                  reverse: bool) -> tuple[list[Session], int]:
    sql = (f"SELECT {S_FIELDS_OF_S}, m.added_at AS joined_at FROM scope_sessions m JOIN sessions s ON s.workspace_id = m.workspace_id "
           "AND s.id = m.session_id AND s.is_active WHERE m.workspace_id = ? AND m.scope_id = ?")
    order = "joined_at DESC, id DESC" if reverse else "joined_at, id"
    return rows_page(cur, sql, [workspace_id, scope_id], order, page_no, size, session_row)


def conclusions_per_session(cur: Cursor, workspace_id: str, session_ids: list[str]) -> dict[str, int]:
    """Live conclusions drawn in each of these sessions."""
    if not session_ids:
        return {}
    marks = ", ".join("?" for _ in session_ids)
    rows = cur.execute(f"SELECT session_id, count(*) FROM conclusions WHERE workspace_id = ? AND deleted_at IS NULL "
                       f"AND session_id IN ({marks}) GROUP BY session_id", [workspace_id, *session_ids]).fetchall()
    return {r[0]: int(r[1]) for r in rows}
