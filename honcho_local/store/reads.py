"""Read queries over the representation store: conclusions, summaries, peer cards and profiles.

Every derived read filters on a representation `version` and accepts `as_of` (naive UTC): rows
created after it are invisible, and a conclusion soft-deleted after it (`recheck`) is still visible (the API's
deletes are hard: `store/forget.py`). History tables
(summaries, cards, profiles) are append-only, so "current as of T" is the newest row at or before T.
The one write here is the API's peer-card PUT, which appends a card row (`source = 'api'`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from honcho_local.store.filters import Column, compile_filters
from honcho_local.store.resources import Cursor, _fetch, page

CONCLUSION_COLUMNS = {
    "id": Column("id", "str"),
    "workspace_id": Column("workspace_id", "str"),
    "observer_id": Column("observer_id", "str"),
    "observer": Column("observer_id", "str"),
    "observed_id": Column("observed_id", "str"),
    "observed": Column("observed_id", "str"),
    "session_id": Column("session_id", "str"),
    "level": Column("level", "str"),
    "times_derived": Column("times_derived", "int"),
    "created_at": Column("created_at", "datetime"),
    # Honcho's `source_ids` are the conclusions a conclusion was derived from (premises: the SDK's
    # `derived()`); `message_ids` (extension) the messages it was drawn from. Both take `{"contains": id}`.
    "source_ids": Column("premise_ids", "ids"),
    "message_ids": Column("source_ids", "ids"),
    "metadata": Column("metadata", "json"),
}
_C_JSON = {"source_ids", "premise_ids", "metadata"}
C_FIELDS = ("id, workspace_id, observer_id, observed_id, session_id, level, content, times_derived, source_ids, "
            "premise_ids, metadata, version, observed_at, created_at, deleted_at")


def _visible(as_of: datetime | None) -> tuple[str, list[Any]]:
    """Conclusions alive now, or alive at `as_of`."""
    if as_of is None:
        return "deleted_at IS NULL", []
    return "created_at <= ? AND (deleted_at IS NULL OR deleted_at > ?)", [as_of, as_of]


def list_conclusions(cur: Cursor, workspace_id: str, version: str, filters: Any, page_no: int, size: int,
                     reverse: bool, as_of: datetime | None = None):
    """One page of conclusions, newest first (`reverse` gives oldest first), and the total."""
    where, params = compile_filters(filters, CONCLUSION_COLUMNS)
    alive, alive_params = _visible(as_of)
    sql = f"SELECT {C_FIELDS} FROM conclusions WHERE workspace_id = ? AND version = ? AND {alive} AND {where}"
    order = "created_at ASC, id ASC" if reverse else "created_at DESC, id DESC"
    return page(cur, sql, [workspace_id, version, *alive_params, *params], order, page_no, size, _C_JSON)


def get_conclusion(cur: Cursor, workspace_id: str, conclusion_id: str) -> dict[str, Any] | None:
    rows = _fetch(cur, f"SELECT {C_FIELDS} FROM conclusions WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL",
                  [workspace_id, conclusion_id], _C_JSON)
    return rows[0] if rows else None


def get_conclusions(cur: Cursor, workspace_id: str, ids: list[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    return _fetch(cur, f"SELECT {C_FIELDS} FROM conclusions WHERE workspace_id = ? AND id IN ({marks})",
                  [workspace_id, *ids], _C_JSON)


def query_conclusions(cur: Cursor, workspace_id: str, version: str, embedding: list[float], model: str,
                      top_k: int, max_distance: float | None, filters: Any = None,
                      as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Exact cosine top-k among conclusions embedded by `model`; `distance` = 1 - cosine similarity."""
    where, params = compile_filters(filters, CONCLUSION_COLUMNS)
    alive, alive_params = _visible(as_of)
    sql = (f"SELECT * FROM (SELECT {C_FIELDS}, 1 - list_cosine_similarity(embedding, ?::FLOAT[]) AS distance "
           f"FROM conclusions WHERE workspace_id = ? AND version = ? AND embedding_model = ? "
           f"AND embedding IS NOT NULL AND {alive} AND {where})")
    args: list[Any] = [embedding, workspace_id, version, model, *alive_params, *params]
    if max_distance is not None:
        sql += " WHERE distance <= ?"
        args.append(max_distance)
    return _fetch(cur, sql + " ORDER BY distance, created_at DESC LIMIT ?", [*args, top_k], _C_JSON)


def collection_vectors(cur: Cursor, workspace_id: str, version: str, model: str, observer: str,
                       observed: str) -> list[dict[str, Any]]:
    """Every live conclusion of a collection embedded by `model`, with its embedding."""
    return _fetch(cur, f"SELECT {C_FIELDS}, embedding FROM conclusions WHERE workspace_id = ? AND version = ? "
                       "AND embedding_model = ? AND observer_id = ? AND observed_id = ? AND embedding IS NOT NULL "
                       "AND deleted_at IS NULL", [workspace_id, version, model, observer, observed], _C_JSON)


def representation_pool(cur: Cursor, workspace_id: str, version: str, observer: str, observed: str,
                        recent: int, frequent: int, sessions: list[str] | None = None,
                        as_of: datetime | None = None) -> list[dict[str, Any]]:
    """The most recent and the most often derived conclusions of a collection, in one round trip.

    With a session allowlist only explicit conclusions stated in those sessions count (derived ones
    carry no provable per-session provenance)."""
    alive, alive_params = _visible(as_of)
    base = (f"FROM conclusions WHERE workspace_id = ? AND version = ? AND observer_id = ? AND observed_id = ? "
            f"AND {alive}")
    args: list[Any] = [workspace_id, version, observer, observed, *alive_params]
    if sessions is not None:
        base += f" AND level = 'explicit' AND session_id IN ({', '.join('?' for _ in sessions) or 'NULL'})"
        args.extend(sessions)
    newest = f"SELECT {C_FIELDS} {base} ORDER BY created_at DESC, id DESC LIMIT ?"
    most = f"SELECT {C_FIELDS} {base} ORDER BY times_derived DESC, created_at DESC LIMIT ?"
    if not frequent:  # the usual case (context without include_most_frequent): one query, no UNION (-30%)
        return _fetch(cur, newest, [*args, recent], _C_JSON)
    if not recent:
        return _fetch(cur, most, [*args, frequent], _C_JSON)
    return _fetch(cur, f"({newest}) UNION ({most})", [*args, recent, *args, frequent], _C_JSON)


# ---- summaries, cards, profiles -----------------------------------------------------------------
def current_summaries(cur: Cursor, workspace_id: str, session_id: str, version: str,
                      as_of: datetime | None = None) -> dict[str, dict[str, Any]]:
    """The newest summary of each type (`short`, `long`) for a session, as of a moment."""
    sql = ("SELECT summary_type, content, message_id, last_event_pk, token_count, created_at FROM summaries "
           "WHERE workspace_id = ? AND session_id = ? AND version = ?")
    args: list[Any] = [workspace_id, session_id, version]
    if as_of is not None:
        sql += " AND created_at <= ?"
        args.append(as_of)
    sql += " QUALIFY row_number() OVER (PARTITION BY summary_type ORDER BY created_at DESC, last_event_pk DESC) = 1"
    return {r["summary_type"]: r for r in _fetch(cur, sql, args, set())}


# ---- messages ----------------------------------------------------------------------------------
MSG_FIELDS = ("pk, id, workspace_id, session_id, peer_id, content, metadata, token_count, created_at, recorded_at")


def recent_messages(cur: Cursor, workspace_id: str, session_id: str, after_pk: int, budget: int,
                    as_of: datetime | None = None) -> list[dict[str, Any]]:
    """The newest messages after `after_pk` whose token counts add up to at most `budget`, oldest first."""
    sql = (f"SELECT {MSG_FIELDS}, sum(token_count) OVER (ORDER BY pk DESC) AS running FROM events "
           "WHERE workspace_id = ? AND session_id = ? AND kind = 'message' AND pk > ?")
    args: list[Any] = [workspace_id, session_id, after_pk]
    if as_of is not None:
        sql += " AND recorded_at <= ?"
        args.append(as_of)
    return _fetch(cur, f"SELECT * FROM ({sql}) WHERE running <= ? ORDER BY pk", [*args, budget], {"metadata"})


def messages_by_pk(cur: Cursor, pks: list[int], filters_sql: str = "TRUE", params: list[Any] | None = None,
                   active_only: bool = True) -> dict[int, dict[str, Any]]:
    """Messages with these log positions (in active sessions) that pass a compiled filter."""
    if not pks:
        return {}
    sql = (f"SELECT {MSG_FIELDS} FROM events WHERE pk IN (SELECT unnest(?::BIGINT[])) AND kind = 'message' "
           f"AND {filters_sql}")
    if active_only:
        sql += (" AND EXISTS (SELECT 1 FROM sessions s WHERE s.workspace_id = events.workspace_id "
                "AND s.id = events.session_id AND s.is_active)")
    rows = _fetch(cur, sql, [pks, *(params or [])], {"metadata"})
    return {r["pk"]: r for r in rows}


def messages_by_id(cur: Cursor, workspace_id: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Messages of a workspace by public id (in active sessions), keyed by id."""
    if not ids:
        return {}
    sql = (f"SELECT {MSG_FIELDS} FROM events WHERE workspace_id = ? AND id IN (SELECT unnest(?::VARCHAR[])) "
           "AND kind = 'message' AND EXISTS (SELECT 1 FROM sessions s WHERE s.workspace_id = events.workspace_id "
           "AND s.id = events.session_id AND s.is_active)")
    return {r["id"]: r for r in _fetch(cur, sql, [workspace_id, ids], {"metadata"})}
