"""Conclusions: all of their SQL. Writes: insert with exact and near-duplicate de-duplication, soft delete
(recheck). Reads: lists with filters, by id, semantic query, the representation pool, the collection's
vectors, what the reasoner reads back. Every read filters on a representation `version` and accepts
`as_of` (naive UTC): rows created after it are invisible, and a conclusion soft-deleted after it
(`recheck`) is still visible (the API's deletes are hard: `store/forget.py`).

A conclusion belongs to a collection (workspace, observer, observed, version). Exact duplicates
(same lower-cased, trimmed content and level) and near duplicates (cosine similarity ≥
`NEAR_DUPLICATE_SIMILARITY` between embeddings from the same model) are not stored again: the
existing row's `times_derived` is incremented and its sources are extended.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from honcho_local.ids import new_id
from honcho_local.store.db import WriteContext, peer_tag, utcnow
from honcho_local.store.filters import Column, compile_filters
from honcho_local.store.sql import Cursor, dumps, scalar

NEAR_DUPLICATE_SIMILARITY = 0.95
LEVELS = ("explicit", "deductive", "inductive", "contradiction")


@dataclass
class NewConclusion:
    workspace_id: str
    observer_id: str
    observed_id: str
    content: str
    level: str = "explicit"
    session_id: str | None = None
    embedding: list[float] | None = None
    embedding_model: str | None = None
    source_ids: list[str] = field(default_factory=list)
    premise_ids: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    observed_at: datetime | None = None


@dataclass
class Stored:
    id: str
    new: bool


def _find_duplicate(ctx: WriteContext, c: NewConclusion, version: str) -> str | None:
    base = ("FROM conclusions WHERE workspace_id = ? AND observer_id = ? AND observed_id = ? AND version = ? "
            "AND level = ? AND deleted_at IS NULL")
    args = [c.workspace_id, c.observer_id, c.observed_id, version, c.level]
    row = ctx.conn.execute(f"SELECT id {base} AND lower(trim(content)) = lower(trim(?)) LIMIT 1",
                           [*args, c.content]).fetchone()
    if row:
        return row[0]
    if c.embedding is None:
        return None
    row = ctx.conn.execute(
        f"SELECT id, list_cosine_similarity(embedding, ?::FLOAT[]) AS sim {base} AND embedding_model = ? "
        "AND embedding IS NOT NULL ORDER BY sim DESC LIMIT 1",
        [c.embedding, *args, c.embedding_model]).fetchone()
    if row and row[1] is not None and row[1] >= NEAR_DUPLICATE_SIMILARITY:
        return row[0]
    return None


def insert_conclusions(ctx: WriteContext, items: list[NewConclusion], version: str,
                       dedupe: bool = True) -> list[Stored]:
    """Store conclusions in the writer's transaction; duplicates count up the existing row."""
    stored: list[Stored] = []
    now = utcnow()
    live = _live_sources(ctx, items)
    for c in items:
        if c.level not in LEVELS:
            raise ValueError(f"unknown conclusion level {c.level!r}")
        if c.source_ids:
            kept = [s for s in c.source_ids if s in live]
            if not kept or (c.level != "explicit" and len(kept) < len(c.source_ids)):
                stored.append(Stored(new_id(), False))  # its messages were deleted while it was derived
                continue
            c.source_ids = kept
        ctx.touch(peer_tag(c.workspace_id, c.observed_id))
        existing = _find_duplicate(ctx, c, version) if dedupe else None
        if existing:
            _count_repeat(ctx, existing, c)
            stored.append(Stored(existing, False))
            continue
        cid = new_id()
        ctx.conn.execute(
            "INSERT INTO conclusions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, NULL)",
            [cid, c.workspace_id, c.observer_id, c.observed_id, c.session_id, c.level, c.content.strip(),
             c.embedding, c.embedding_model, dumps(c.source_ids), dumps(c.premise_ids), dumps(c.metadata),
             version, c.observed_at, now])
        stored.append(Stored(cid, True))
    return stored


def _live_sources(ctx: WriteContext, items: list[NewConclusion]) -> set[str]:
    """The items' source message ids still in the log: a message deleted while the worker reasoned
    about it (no transaction is held across the model call) is not cited, and a conclusion resting
    only on deleted messages is not stored (`store/forget.py`)."""
    wanted = sorted({s for c in items for s in c.source_ids})
    if not wanted:
        return set()
    rows = ctx.conn.execute("SELECT id FROM events WHERE id IN (SELECT unnest(?::VARCHAR[]))", [wanted]).fetchall()
    return {r[0] for r in rows}


def _count_repeat(ctx: WriteContext, conclusion_id: str, c: NewConclusion) -> None:
    row = ctx.conn.execute("SELECT source_ids FROM conclusions WHERE id = ?", [conclusion_id]).fetchone()
    sources = json.loads(row[0]) if row else []
    merged = sources + [s for s in c.source_ids if s not in sources]
    ctx.conn.execute(
        "UPDATE conclusions SET times_derived = times_derived + 1, source_ids = ?, "
        "observed_at = greatest(observed_at, ?) WHERE id = ?",
        [dumps(merged), c.observed_at, conclusion_id])


def delete_conclusion(ctx: WriteContext, workspace_id: str, conclusion_id: str) -> bool:
    """Soft delete (kept for time travel: reads `as_of` before the deletion still see it)."""
    rows = ctx.conn.execute(
        "UPDATE conclusions SET deleted_at = ? WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL "
        "RETURNING id", [utcnow(), workspace_id, conclusion_id]).fetchall()
    return bool(rows)


def supersede(ctx: WriteContext, workspace_id: str, older_id: str, newer_id: str) -> bool:
    """Retire `older_id` as no longer true after `newer_id` (a dream's knowledge update): a soft delete
    with `superseded_by` in its metadata. False when either is gone."""
    rows = ctx.conn.execute("SELECT id, metadata, observed_id FROM conclusions WHERE workspace_id = ? AND id IN (?, ?) "
                            "AND deleted_at IS NULL", [workspace_id, older_id, newer_id]).fetchall()
    older = next((r for r in rows if r[0] == older_id), None)
    if older is None or len(rows) < 2:
        return False
    metadata = {**(_json(older[1]) or {}), "superseded_by": newer_id}
    ctx.conn.execute("UPDATE conclusions SET deleted_at = ?, metadata = ? WHERE id = ?",
                     [utcnow(), dumps(metadata), older_id])
    ctx.touch(peer_tag(workspace_id, older[2]))
    return True


def live_ids(ctx: WriteContext, workspace_id: str, ids: list[str]) -> set[str]:
    """Which of `ids` are live conclusions of the workspace."""
    if not ids:
        return set()
    rows = ctx.conn.execute("SELECT id FROM conclusions WHERE workspace_id = ? AND deleted_at IS NULL "
                            "AND id IN (SELECT unnest(?::VARCHAR[]))", [workspace_id, ids]).fetchall()
    return {r[0] for r in rows}


def live_conclusions(cur: Any, version: str, workspace_id: str | None = None) -> list[dict[str, Any]]:
    """Every conclusion of a version not deleted, oldest first: id, workspace, observer and observed peers,
    session, level, content, source and premise ids, when its sources were said, how often it was derived
    (for checks over the whole store)."""
    sql = ("SELECT id, workspace_id, observer_id, observed_id, session_id, level, content, source_ids, premise_ids, "
           "observed_at, times_derived FROM conclusions WHERE version = ? AND deleted_at IS NULL")
    args: list[Any] = [version]
    if workspace_id is not None:
        sql += " AND workspace_id = ?"
        args.append(workspace_id)
    cols = ("id", "workspace_id", "observer_id", "observed_id", "session_id", "level", "content", "source_ids",
            "premise_ids", "observed_at", "times_derived")
    out = []
    for row in cur.execute(sql + " ORDER BY created_at, id", args).fetchall():
        item = dict(zip(cols, row))
        item["source_ids"], item["premise_ids"] = json.loads(item["source_ids"]), json.loads(item["premise_ids"])
        out.append(item)
    return out


def set_conclusion_text(ctx: WriteContext, conclusion_id: str, content: str) -> None:
    """Normalise a derived conclusion's wording in place (its sources, embedding and times stay)."""
    ctx.conn.execute("UPDATE conclusions SET content = ? WHERE id = ?", [content, conclusion_id])


# ---- reads ----------------------------------------------------------------------------------------
def _visible(as_of: datetime | None) -> tuple[str, list[Any]]:
    """Conclusions alive now, or alive at `as_of`."""
    if as_of is None:
        return "deleted_at IS NULL", []
    return "created_at <= ? AND (deleted_at IS NULL OR deleted_at > ?)", [as_of, as_of]


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


C_FIELDS = ("id, workspace_id, observer_id, observed_id, session_id, level, content, times_derived, source_ids, "
            "premise_ids, metadata, version, observed_at, created_at, deleted_at")


class Conclusion(msgspec.Struct, frozen=True):
    """A stored conclusion as the reads return it (`C_FIELDS`, in order). `source_ids` are the messages it
    was drawn from, `premise_ids` the conclusions it rests on; `observed_at` when its newest source was said;
    `distance` (1 - cosine similarity) is set by a semantic query."""

    id: str
    workspace_id: str
    observer_id: str
    observed_id: str
    session_id: str | None
    level: str
    content: str
    times_derived: int
    source_ids: list[str] | None
    premise_ids: list[str] | None
    metadata: dict[str, Any] | None
    version: str
    observed_at: datetime | None
    created_at: datetime
    deleted_at: datetime | None
    distance: float | None = None


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _conclusion(r: tuple[Any, ...], distance: float | None = None) -> Conclusion:
    """A `Conclusion` from a row of `SELECT C_FIELDS`."""
    return Conclusion(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], _json(r[8]), _json(r[9]), _json(r[10]), r[11],
                      r[12], r[13], r[14], distance)


def _conclusions(result: Cursor) -> list[Conclusion]:
    """The rows of an executed `SELECT C_FIELDS[, distance]` as `Conclusion`s."""
    return [_conclusion(r, r[15] if len(r) > 15 else None) for r in result.fetchall()]


def list_conclusions(cur: Cursor, workspace_id: str, version: str, filters: Any, page_no: int, size: int,
                     reverse: bool, as_of: datetime | None = None) -> tuple[list[Conclusion], int]:
    """One page of conclusions, newest first (`reverse` gives oldest first), and the total."""
    where, params = compile_filters(filters, CONCLUSION_COLUMNS)
    alive, alive_params = _visible(as_of)
    sql = f"SELECT {C_FIELDS} FROM conclusions WHERE workspace_id = ? AND version = ? AND {alive} AND {where}"
    order = "created_at ASC, id ASC" if reverse else "created_at DESC, id DESC"
    args = [workspace_id, version, *alive_params, *params]
    total = scalar(cur.execute(f"SELECT count(*) FROM ({sql})", args))
    rows = _conclusions(cur.execute(f"{sql} ORDER BY {order} LIMIT ? OFFSET ?", [*args, size, (page_no - 1) * size]))
    return rows, total


def get_conclusion(cur: Cursor, workspace_id: str, conclusion_id: str) -> Conclusion | None:
    rows = _conclusions(cur.execute(
        f"SELECT {C_FIELDS} FROM conclusions WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL",
        [workspace_id, conclusion_id]))
    return rows[0] if rows else None


def get_conclusions(cur: Cursor, workspace_id: str, ids: list[str]) -> list[Conclusion]:
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    return _conclusions(cur.execute(f"SELECT {C_FIELDS} FROM conclusions WHERE workspace_id = ? AND id IN ({marks})",
                                    [workspace_id, *ids]))


def query_conclusions(cur: Cursor, workspace_id: str, version: str, embedding: list[float], model: str,
                      top_k: int, max_distance: float | None, filters: Any = None,
                      as_of: datetime | None = None) -> list[Conclusion]:
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
    return _conclusions(cur.execute(sql + " ORDER BY distance, created_at DESC LIMIT ?", [*args, top_k]))


def collection_vectors(cur: Cursor, workspace_id: str, version: str, model: str, observer: str,
                       observed: str) -> tuple[list[Conclusion], list[list[float]]]:
    """Every live conclusion of a collection embedded by `model`, and their embeddings in the same order."""
    rows = cur.execute(f"SELECT {C_FIELDS}, embedding FROM conclusions WHERE workspace_id = ? AND version = ? "
                       "AND embedding_model = ? AND observer_id = ? AND observed_id = ? AND embedding IS NOT NULL "
                       "AND deleted_at IS NULL", [workspace_id, version, model, observer, observed]).fetchall()
    return [_conclusion(r) for r in rows], [r[15] for r in rows]


def representation_pool(cur: Cursor, workspace_id: str, version: str, observer: str, observed: str,
                        recent: int, frequent: int, sessions: list[str] | None = None,
                        as_of: datetime | None = None) -> list[Conclusion]:
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
        return _conclusions(cur.execute(newest, [*args, recent]))
    if not recent:
        return _conclusions(cur.execute(most, [*args, frequent]))
    return _conclusions(cur.execute(f"({newest}) UNION ({most})", [*args, recent, *args, frequent]))


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


def induction_premises(cur: Cursor, workspace_id: str, observer: str, observed: str, version: str) -> set[str]:
    """The premises of a pair's live inductive conclusions."""
    sql, args = _live_pair("premise_ids", workspace_id, observer, observed, version, level="inductive")
    return {p for (premises,) in cur.execute(sql, args).fetchall() for p in (_json(premises) or ())}


def recent_conclusions(cur: Cursor, workspace_id: str, observer: str, observed: str, version: str,
                       limit: int = 30, level: str | None = None, newest_first: bool = False) -> list[str]:
    """Live conclusions' text: the most reinforced, then newest (or only newest first)."""
    sql, args = _live_pair("content", workspace_id, observer, observed, version, level=level)
    order = "created_at DESC" if newest_first else "times_derived DESC, created_at DESC"
    rows = cur.execute(f"{sql} ORDER BY {order}, id LIMIT ?", [*args, limit]).fetchall()
    return [r[0] for r in rows]
