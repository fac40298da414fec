"""Peers: their rows, configuration and metadata (a peer's card and profile: `store/cards.py`). Reads return
`Peer`s (`P_FIELDS`, in order, JSON columns decoded)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec

from honcho_local.store.db import WriteContext, utcnow, ws_tag
from honcho_local.store.filters import Column, compile_filters
from honcho_local.store.sql import Cursor, columns, dumps, replace_fields, rows_page

PEER_COLUMNS = {
    "id": Column("p.id", "str"),
    "workspace_id": Column("p.workspace_id", "str"),
    "created_at": Column("p.created_at", "datetime"),
    "metadata": Column("p.metadata", "json"),
}


_NAMES = ("workspace_id", "id", "metadata", "configuration", "internal_metadata", "created_at")
P_FIELDS = ", ".join(_NAMES)
P_FIELDS_OF_P = ", ".join(f"p.{n}" for n in _NAMES)  # the same, from `peers p`


class Peer(msgspec.Struct, frozen=True):
    """A peer as the reads return it (`P_FIELDS`, in order)."""

    workspace_id: str
    id: str
    metadata: dict[str, Any]
    configuration: dict[str, Any]
    internal_metadata: dict[str, Any]
    created_at: datetime


def peer_row(r: tuple[Any, ...]) -> Peer:
    """A `Peer` from a row of `SELECT P_FIELDS` (or `P_FIELDS_OF_P`)."""
    return Peer(r[0], r[1], json.loads(r[2]), json.loads(r[3]), json.loads(r[4]), r[5])


def get_peer(cur: Cursor, workspace_id: str, peer_id: str) -> Peer | None:
    row = cur.execute(f"SELECT {P_FIELDS} FROM peers WHERE workspace_id = ? AND id = ?",
                      [workspace_id, peer_id]).fetchone()
    return None if row is None else peer_row(row)


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


def list_peers(cur: Cursor, workspace_id: str, filters: Any, page_no: int, size: int,
               reverse: bool) -> tuple[list[Peer], int]:
    where, params = compile_filters(filters, PEER_COLUMNS)
    order = "p.created_at DESC, p.id DESC" if reverse else "p.created_at, p.id"
    return rows_page(cur, f"SELECT {P_FIELDS_OF_P} FROM peers p WHERE p.workspace_id = ? AND {where}",
                     [workspace_id, *params], order, page_no, size, peer_row)


def insert_peers(conn: Cursor, rows: list[tuple[str, str]]) -> None:
    conn.execute("INSERT INTO peers SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), '{}', '{}', '{}', ? "
                 "ON CONFLICT DO NOTHING", [*columns(rows), utcnow()])
