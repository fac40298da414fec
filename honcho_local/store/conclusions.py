"""Conclusions (write side): insert with exact and near-duplicate de-duplication, soft delete (recheck).

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

from honcho_local.ids import new_id
from honcho_local.store.db import WriteContext, peer_tag, utcnow
from honcho_local.store.resources import dumps

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
