"""Peers: their rows, configuration and metadata (a peer's card and profile: `store/cards.py`)."""

from __future__ import annotations

from typing import Any

from honcho_local.store.db import WriteContext, utcnow, ws_tag
from honcho_local.store.filters import Column, compile_filters
from honcho_local.store.sql import Cursor, columns, dumps, fetch, page, replace_fields

PEER_COLUMNS = {
    "id": Column("p.id", "str"),
    "workspace_id": Column("p.workspace_id", "str"),
    "created_at": Column("p.created_at", "datetime"),
    "metadata": Column("p.metadata", "json"),
}


PEER_JSON = {"metadata", "configuration", "internal_metadata"}


def get_peer(cur: Cursor, workspace_id: str, peer_id: str) -> dict[str, Any] | None:
    rows = fetch(cur, "SELECT * FROM peers WHERE workspace_id = ? AND id = ?", [workspace_id, peer_id], PEER_JSON)
    return rows[0] if rows else None


def ensure_peer(ctx: WriteContext, workspace_id: str, peer_id: str, metadata: dict | None = None,
                configuration: dict | None = None) -> bool:
    key = ("peer", workspace_id, peer_id)
    if key in ctx.known:
        return False
    created = ctx.conn.execute(
        "INSERT INTO peers VALUES (?, ?, ?, ?, '{}', ?) ON CONFLICT DO NOTHING RETURNING id",
        [workspace_id, peer_id, dumps(metadata or {}), dumps(configuration or {}), utcnow()],
    ).fetchall()
    ctx.known.add(key)
    if created:
        ctx.touch(ws_tag(workspace_id))
    return bool(created)


def update_peer(ctx: WriteContext, workspace_id: str, peer_id: str, metadata: dict | None,
                configuration: dict | None) -> None:
    replace_fields(ctx, "peers", "workspace_id = ? AND id = ?", [workspace_id, peer_id], metadata, configuration)


def list_peers(cur: Cursor, workspace_id: str, filters: Any, page_no: int, size: int, reverse: bool):
    where, params = compile_filters(filters, PEER_COLUMNS)
    order = "p.created_at DESC, p.id DESC" if reverse else "p.created_at, p.id"
    return page(cur, f"SELECT p.* FROM peers p WHERE p.workspace_id = ? AND {where}",
                [workspace_id, *params], order, page_no, size, PEER_JSON)


def insert_peers(conn: Cursor, rows: list[tuple[str, str]]) -> None:
    conn.execute("INSERT INTO peers SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), '{}', '{}', '{}', ? "
                 "ON CONFLICT DO NOTHING", [*columns(rows), utcnow()])
