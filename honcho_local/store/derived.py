"""Reads and writes of the worker: message windows, summaries, peer cards, profiles, message embeddings.

Summaries, cards and profiles are appended (history kept); the newest row per key is current.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from honcho_local.ids import new_id
from honcho_local.store.db import WriteContext, summaries_tag, utcnow
from honcho_local.store.resources import Cursor, _fetch
from honcho_local.store.sql import one, scalar

_WINDOW = ("SELECT pk, id, peer_id, content, created_at, token_count, configuration FROM events "
           "WHERE workspace_id = ? AND session_id = ? AND kind = 'message'")


def messages_after(cur: Cursor, workspace_id: str, session_id: str, after_pk: int, limit: int = 200,
                   up_to_pk: int | None = None) -> list[dict[str, Any]]:
    sql, args = _WINDOW + " AND pk > ?", [workspace_id, session_id, after_pk]
    if up_to_pk is not None:
        sql += " AND pk <= ?"
        args.append(up_to_pk)
    return _fetch(cur, sql + " ORDER BY pk LIMIT ?", [*args, limit], {"configuration"})


def reasoning_candidates(cur: Cursor, workspace_id: str, session_id: str, peer_id: str, after_pk: int,
                         up_to_pk: int, every: bool, limit: int) -> list[dict[str, Any]]:
    """The peer's messages in (after_pk, up_to_pk] that may be reasoned about: each one when `every`
    (the session's setting reasons), else only those with their own configuration. pk and
    configuration, in log order."""
    own = "" if every else " AND configuration IS NOT NULL"
    return _fetch(cur, "SELECT pk, configuration FROM events WHERE workspace_id = ? AND session_id = ? "
                       f"AND kind = 'message' AND peer_id = ? AND pk > ? AND pk <= ?{own} ORDER BY pk LIMIT ?",
                  [workspace_id, session_id, peer_id, after_pk, up_to_pk, limit], {"configuration"})


def pk_before(cur: Cursor, workspace_id: str, session_id: str, pk: int) -> int | None:
    """The log position of the session's message before `pk` (None: none)."""
    return scalar(cur.execute("SELECT max(pk) FROM events WHERE workspace_id = ? AND session_id = ? "
                              "AND kind = 'message' AND pk < ?", [workspace_id, session_id, pk]))


def message_before(cur: Cursor, workspace_id: str, session_id: str, pk: int) -> dict[str, Any] | None:
    rows = _fetch(cur, _WINDOW + " AND pk < ? ORDER BY pk DESC LIMIT 1", [workspace_id, session_id, pk],
                  {"configuration"})
    return rows[0] if rows else None


def session_message_stats(cur: Cursor, workspace_id: str, session_id: str, up_to_pk: int) -> tuple[int, int]:
    """(number of messages, last message pk) up to `up_to_pk`."""
    row = one(cur.execute("SELECT count(*), coalesce(max(pk), 0) FROM events WHERE workspace_id = ? "
                          "AND session_id = ? AND kind = 'message' AND pk <= ?", [workspace_id, session_id, up_to_pk]))
    return int(row[0]), int(row[1])


def nth_message(cur: Cursor, workspace_id: str, session_id: str, n: int) -> dict[str, Any]:
    """The n-th message (1-based) of a session."""
    return _fetch(cur, _WINDOW + " ORDER BY pk LIMIT 1 OFFSET ?", [workspace_id, session_id, n - 1],
                  {"configuration"})[0]


def latest_summary(cur: Cursor, workspace_id: str, session_id: str, summary_type: str,
                   version: str) -> dict[str, Any] | None:
    rows = _fetch(cur, "SELECT * FROM summaries WHERE workspace_id = ? AND session_id = ? AND summary_type = ? "
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


def _live_pair(columns: str, workspace_id: str, observer: str, observed: str, version: str,
               since: datetime | None = None, level: str | None = None) -> tuple[str, list[Any]]:
    """SELECT `columns` over one (observer, observed) pair's live conclusions of a version, made after
    `since` and of `level` when given."""
    sql = (f"SELECT {columns} FROM conclusions WHERE workspace_id = ? AND observer_id = ? AND observed_id = ? "
           "AND version = ? AND deleted_at IS NULL")
    args: list[Any] = [workspace_id, observer, observed, version]
    for clause, value in ((" AND created_at > ?", since), (" AND level = ?", level)):
        if value is not None:
            sql += clause
            args.append(value)
    return sql, args


def conclusions_since(cur: Cursor, workspace_id: str, observer: str, observed: str, version: str,
                      since: datetime | None) -> int:
    sql, args = _live_pair("count(*)", workspace_id, observer, observed, version, since=since)
    return scalar(cur.execute(sql, args))


def recent_conclusions(cur: Cursor, workspace_id: str, observer: str, observed: str, version: str,
                       limit: int = 30, level: str | None = None, newest_first: bool = False) -> list[str]:
    """Live conclusions' text: the most reinforced, then newest (or only newest first)."""
    sql, args = _live_pair("content", workspace_id, observer, observed, version, level=level)
    order = "created_at DESC" if newest_first else "times_derived DESC, created_at DESC"
    rows = cur.execute(f"{sql} ORDER BY {order}, id LIMIT ?", [*args, limit]).fetchall()
    return [r[0] for r in rows]


def missing_message_embeddings(cur: Cursor, workspace_id: str, session_id: str, model: str,
                               up_to_pk: int, after_pk: int = 0) -> list[tuple[int, str, str]]:
    """(pk, peer_id, content) of the session's messages in (after_pk, up_to_pk] with no embedding by `model`."""
    return cur.execute(
        "SELECT e.pk, e.peer_id, e.content FROM events e WHERE e.workspace_id = ? AND e.session_id = ? AND e.kind = 'message' "
        "AND e.pk > ? AND e.pk <= ? AND NOT EXISTS (SELECT 1 FROM message_embeddings m WHERE m.event_pk = e.pk "
        "AND m.model = ?) ORDER BY e.pk", [workspace_id, session_id, after_pk, up_to_pk, model]).fetchall()


def insert_message_embeddings(ctx: WriteContext, workspace_id: str, session_id: str, model: str,
                              rows: list[tuple[int, list[float]]]) -> None:
    """Store embeddings of messages still in the log (a session deleted while its messages were
    being embedded leaves nothing behind)."""
    if rows:
        ctx.conn.execute(
            "INSERT INTO message_embeddings (event_pk, workspace_id, session_id, model, embedding) "
            "SELECT v.pk, ?, ?, ?, v.embedding FROM (SELECT unnest(?::BIGINT[]) AS pk, unnest(?::FLOAT[][]) AS embedding) v "
            "WHERE v.pk IN (SELECT pk FROM events WHERE workspace_id = ? AND session_id = ?) ON CONFLICT DO NOTHING",
            [workspace_id, session_id, model, [pk for pk, _ in rows], [v for _, v in rows], workspace_id, session_id])


def session_messages(cur: Cursor, workspace_id: str, session_id: str) -> list[dict[str, Any]]:
    """Every message of a session in log order (pk, id, peer_id, content, created_at, ...)."""
    return _fetch(cur, _WINDOW + " ORDER BY pk", [workspace_id, session_id], {"configuration"})
