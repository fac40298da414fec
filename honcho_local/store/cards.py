"""Peer cards and profiles as stored: `peer_cards` (append-only; the newest row of a pair and version is
the current card, older rows serve `as_of` reads; a user's card, written with `PUT`, is pinned: the
worker's cards keep its entries) and `peer_profiles` (the worker's prose profile beside the card). All
of their SQL is here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from honcho_local.ids import new_id
from honcho_local.store.db import WriteContext, peer_tag, utcnow
from honcho_local.store.sql import Cursor, dumps, fetch

Pair = tuple[str, str, str]  # (observer, observed, version)


def newest_row(cur: Cursor, table: str, columns: str, workspace_id: str, observer: str, observed: str, version: str,
               as_of: datetime | None) -> dict[str, Any] | None:
    """The current row of an append-only (observer, observed) table (`peer_cards`, `peer_profiles`)."""
    sql = (f"SELECT {columns}, created_at FROM {table} WHERE workspace_id = ? AND observer_id = ? "
           f"AND observed_id = ? AND version = ?")
    args: list[Any] = [workspace_id, observer, observed, version]
    if as_of is not None:
        sql += " AND created_at <= ?"
        args.append(as_of)
    rows = fetch(cur, sql + " ORDER BY created_at DESC, id DESC LIMIT 1", args, {"entries"})
    return rows[0] if rows else None


def current_card(cur: Cursor, workspace_id: str, observer: str, observed: str, version: str,
                 as_of: datetime | None = None) -> list[str] | None:
    row = newest_row(cur, "peer_cards", "entries", workspace_id, observer, observed, version, as_of)
    return None if row is None else list(row["entries"])


def current_profile(cur: Cursor, workspace_id: str, observer: str, observed: str, version: str,
                    as_of: datetime | None = None) -> str | None:
    row = newest_row(cur, "peer_profiles", "content", workspace_id, observer, observed, version, as_of)
    return None if row is None else row["content"]


def append_card(ctx: WriteContext, workspace_id: str, observer: str, observed: str, entries: list[str],
                version: str, source: str = "api") -> None:
    """Append a card row; it becomes the current card (history is kept for `as_of` reads)."""
    ctx.touch(peer_tag(workspace_id, observed))
    ctx.conn.execute("INSERT INTO peer_cards VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     [new_id(), workspace_id, observer, observed, dumps(entries), source, version, utcnow()])


def latest_card(cur: Cursor, workspace_id: str, observer: str, observed: str, version: str,
                as_of: datetime | None = None) -> dict[str, Any] | None:
    """The current card row (entries, source, created_at)."""
    return newest_row(cur, "peer_cards", "entries, source", workspace_id, observer, observed, version, as_of)


def insert_profile(ctx: WriteContext, workspace_id: str, observer: str, observed: str, content: str,
                   version: str) -> None:
    ctx.touch(peer_tag(workspace_id, observed))
    ctx.conn.execute("INSERT INTO peer_profiles VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [new_id(), workspace_id, observer, observed, content, version, utcnow()])


def card_pairs(cur: Cursor, version: str, workspace_id: str | None = None) -> list[tuple[str, str, str]]:
    """(workspace, observer, observed) of every pair with a card in `version`."""
    sql = "SELECT DISTINCT workspace_id, observer_id, observed_id FROM peer_cards WHERE version = ?"
    args: list[Any] = [version]
    if workspace_id is not None:
        sql += " AND workspace_id = ?"
        args.append(workspace_id)
    return [tuple(r) for r in cur.execute(sql + " ORDER BY ALL", args).fetchall()]


def pinned_card(cur: Cursor, workspace_id: str, observer: str, observed: str, version: str) -> list[str]:
    """The entries of the newest card a user wrote (`PUT`); the worker's cards keep them."""
    rows = fetch(cur, "SELECT entries FROM peer_cards WHERE workspace_id = ? AND observer_id = ? AND observed_id = ? "
                  "AND version = ? AND source <> 'worker' ORDER BY created_at DESC, id DESC LIMIT 1",
                  [workspace_id, observer, observed, version], {"entries"})
    return list(rows[0]["entries"]) if rows else []


def drop_pair_cards(ctx: WriteContext, workspace_id: str, pair: Pair) -> bool:
    """Remove the worker's cards (their whole history) and every profile of a pair. Returns whether the
    worker had made a card for it (then the caller writes a rebuilt one)."""
    args = [workspace_id, *pair]
    where = "workspace_id = ? AND observer_id = ? AND observed_id = ? AND version = ?"
    had = ctx.conn.execute(f"DELETE FROM peer_cards WHERE {where} AND source = 'worker' RETURNING id", args).fetchall()
    ctx.conn.execute(f"DELETE FROM peer_profiles WHERE {where}", args)
    return bool(had)
