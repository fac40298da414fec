"""Idempotency keys of writes (issue 31): what a keyed write stored, kept in the write's own transaction.

A row per (workspace, key): the request's fingerprint and the log positions the write appended
(`first_pk`, `count`; one write's events take consecutive positions). A replay reads those events back,
so the answer is the stored events as they are now (a message deleted since is not brought back, and
no message content is kept here). Rows older than the retention are ignored and pruned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from honcho_local.store.db import WriteContext, utcnow
from honcho_local.store.events import SELECT, Message, as_messages


@dataclass(frozen=True)
class StoredWrite:
    fingerprint: str
    session_id: str
    first_pk: int
    count: int


def find(ctx: WriteContext, workspace_id: str, key: str, since: datetime) -> StoredWrite | None:
    """The write stored under `key` in the workspace at or after `since` (None: unknown or expired).
    Through `ctx.conn`: a row remembered earlier in the same group is seen."""
    rows = ctx.conn.execute(
        "SELECT fingerprint, session_id, first_pk, count FROM idempotency_keys "
        "WHERE workspace_id = ? AND key = ? AND created_at >= ?", [workspace_id, key, since]).fetchall()
    return StoredWrite(*rows[0]) if rows else None


def remember(ctx: WriteContext, workspace_id: str, key: str, stored: StoredWrite) -> None:
    """Record the write under `key` (replacing an expired row of the same key) in the write's transaction."""
    ctx.conn.execute(
        "INSERT OR REPLACE INTO idempotency_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
        [workspace_id, key, stored.fingerprint, stored.session_id, stored.first_pk, stored.count, utcnow()])


def stored_events(ctx: WriteContext, workspace_id: str, stored: StoredWrite) -> list[Message]:
    """The events the keyed write appended, in log order (those deleted since are missing)."""
    return as_messages(ctx.conn.execute(
        f"{SELECT} WHERE workspace_id = ? AND session_id = ? AND pk BETWEEN ? AND ? ORDER BY pk",
        [workspace_id, stored.session_id, stored.first_pk, stored.first_pk + stored.count - 1]))


def prune(ctx: WriteContext, before: datetime) -> None:
    """Drop the keys recorded before `before` (past the retention)."""
    ctx.conn.execute("DELETE FROM idempotency_keys WHERE created_at < ?", [before])
