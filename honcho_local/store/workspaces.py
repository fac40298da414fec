"""Workspaces: their rows, configuration and metadata.

Write functions take the writer's `WriteContext` and run inside its transaction; read functions take
a read cursor. Reads return `Workspace`s (`W_FIELDS`, in order, JSON columns decoded).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec

from honcho_local.store.db import WriteContext, utcnow, ws_tag
from honcho_local.store.filters import Column, compile_filters
from honcho_local.store.sql import Cursor, columns, dumps, replace_fields, rows_page

WORKSPACE_COLUMNS = {
    "id": Column("id", "str"),
    "created_at": Column("created_at", "datetime"),
    "metadata": Column("metadata", "json"),
}


W_FIELDS = "id, metadata, configuration, internal_metadata, created_at"


class Workspace(msgspec.Struct, frozen=True):
    """A workspace as the reads return it (`W_FIELDS`, in order)."""

    id: str
    metadata: dict[str, Any]
    configuration: dict[str, Any]
    internal_metadata: dict[str, Any]
    created_at: datetime


def _workspace(r: tuple[Any, ...]) -> Workspace:
    """A `Workspace` from a row of `SELECT W_FIELDS`."""
    return Workspace(r[0], json.loads(r[1]), json.loads(r[2]), json.loads(r[3]), r[4])


def get_workspace(cur: Cursor, workspace_id: str) -> Workspace | None:
    row = cur.execute(f"SELECT {W_FIELDS} FROM workspaces WHERE id = ?", [workspace_id]).fetchone()
    return None if row is None else _workspace(row)


def workspace_configuration(cur: Cursor, workspace_id: str) -> dict[str, Any] | None:
    """A workspace's configuration alone (None when there is no such workspace)."""
    row = cur.execute("SELECT configuration FROM workspaces WHERE id = ?", [workspace_id]).fetchone()
    return json.loads(row[0]) if row else None


def ensure_workspace(ctx: WriteContext, workspace_id: str, metadata: dict | None = None,
                     configuration: dict | None = None) -> bool:
    """Create the workspace if missing. Returns True when it was created."""
    key = ("ws", workspace_id)
    if key in ctx.known:
        return False
    created = ctx.conn.execute(
        "INSERT INTO workspaces VALUES (?, ?, ?, '{}', ?) ON CONFLICT DO NOTHING RETURNING id",
        [workspace_id, dumps(metadata or {}), dumps(configuration or {}), utcnow()],
    ).fetchall()
    ctx.known.add(key)
    if created:
        ctx.touch(ws_tag(workspace_id))
    return bool(created)


def update_workspace(ctx: WriteContext, workspace_id: str, metadata: dict | None, configuration: dict | None) -> None:
    replace_fields(ctx, "workspaces", "id = ?", [workspace_id], metadata, configuration)


def list_workspaces(cur: Cursor, filters: Any, page_no: int, size: int,
                    reverse: bool) -> tuple[list[Workspace], int]:
    where, params = compile_filters(filters, WORKSPACE_COLUMNS)
    order = "created_at DESC, id DESC" if reverse else "created_at, id"
    return rows_page(cur, f"SELECT {W_FIELDS} FROM workspaces WHERE {where}", params, order, page_no, size,
                     _workspace)


def insert_workspaces(conn: Cursor, rows: list[tuple[str]]) -> None:
    conn.execute("INSERT INTO workspaces SELECT unnest(?::VARCHAR[]), '{}', '{}', '{}', ? ON CONFLICT DO NOTHING",
                 [*columns(rows), utcnow()])
