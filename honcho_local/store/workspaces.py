"""Workspaces: their rows, configuration and metadata.

Write functions take the writer's `WriteContext` and run inside its transaction; read functions take
a read cursor. Rows come back as plain dicts with JSON columns decoded.
"""

from __future__ import annotations

import json
from typing import Any

from honcho_local.store.db import WriteContext, utcnow, ws_tag
from honcho_local.store.filters import Column, compile_filters
from honcho_local.store.sql import Cursor, columns, dumps, fetch, page, replace_fields

WORKSPACE_COLUMNS = {
    "id": Column("id", "str"),
    "created_at": Column("created_at", "datetime"),
    "metadata": Column("metadata", "json"),
}


WS_JSON = {"metadata", "configuration", "internal_metadata"}


def get_workspace(cur: Cursor, workspace_id: str) -> dict[str, Any] | None:
    rows = fetch(cur, "SELECT * FROM workspaces WHERE id = ?", [workspace_id], WS_JSON)
    return rows[0] if rows else None


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


def list_workspaces(cur: Cursor, filters: Any, page_no: int, size: int, reverse: bool):
    where, params = compile_filters(filters, WORKSPACE_COLUMNS)
    order = "created_at DESC, id DESC" if reverse else "created_at, id"
    return page(cur, f"SELECT * FROM workspaces WHERE {where}", params, order, page_no, size, WS_JSON)


def insert_workspaces(conn: Cursor, rows: list[tuple[str]]) -> None:
    conn.execute("INSERT INTO workspaces SELECT unnest(?::VARCHAR[]), '{}', '{}', '{}', ? ON CONFLICT DO NOTHING",
                 [*columns(rows), utcnow()])
