"""Forgetting (write side): hard deletes of messages, peers, sessions, workspaces and conclusions with
everything derived from them, and the scrub that takes their bytes out of the DuckDB file.

A conclusion goes when its sources are all gone (an explicit one keeps its other sources, minus the
deleted ids); a deduction (any non-explicit level) goes when any source or premise goes, since it
rests on all of them. Summaries that covered a deleted message go and the session's summary unit is
reset, so the worker writes them again from what is left. Cards and profiles are handled by the
caller (`services/forgetting.py`) through `cards.drop_pair_cards`. Nothing here is a soft delete: `as_of`
reads cannot see what is gone. Representation units keep their cursors (never rewound), so the
messages they have passed are never reasoned again.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from typing import Any

import duckdb

from honcho_local.store.db import Store, WriteContext
from honcho_local.store.events import keep_pk_floor
from honcho_local.store.sql import dumps, one

log = logging.getLogger(__name__)
Pair = tuple[str, str, str]  # (observer, observed, version)
# tables that hold text or vectors of what is forgotten: rewritten by `scrub`
FORGET_TABLES = ("events", "message_embeddings", "conclusions", "summaries", "peer_cards", "peer_profiles",
                 "reasoning_runs", "peers", "sessions", "session_peers", "workspaces", "work_units", "scopes",
                 "scope_sessions", "dreams", "dream_requests")
# what a conclusion delete touches (the log stays): rewriting the event log is most of a scrub's cost
DERIVED_TABLES = ("conclusions", "peer_cards", "peer_profiles", "reasoning_runs", "work_units")


def message_rows(ctx: WriteContext, workspace_id: str, session_id: str | None = None,
                 message_id: str | None = None, peer_id: str | None = None) -> list[tuple[int, str, str]]:
    """(pk, id, session_id) of the workspace's events matching every filter given."""
    sql, args = "SELECT pk, id, session_id FROM events WHERE workspace_id = ?", [workspace_id]
    for column, value in (("session_id", session_id), ("id", message_id), ("peer_id", peer_id)):
        if value is not None:
            sql += f" AND {column} = ?"
            args.append(value)
    return [tuple(r) for r in ctx.conn.execute(sql + " ORDER BY pk", args).fetchall()]


def delete_events(ctx: WriteContext, pks: list[int]) -> None:
    """Remove events and their message embeddings (log positions are never handed out again)."""
    if not pks:
        return
    ctx.mark_mutation()
    keep_pk_floor(ctx)
    ctx.conn.execute("DELETE FROM message_embeddings WHERE event_pk IN (SELECT unnest(?::BIGINT[]))", [pks])
    ctx.conn.execute("DELETE FROM events WHERE pk IN (SELECT unnest(?::BIGINT[]))", [pks])


def _conclusion_rows(ctx: WriteContext, where: str, args: list[Any]) -> list[dict[str, Any]]:
    cols = ("id", "level", "observer_id", "observed_id", "version", "source_ids", "premise_ids")
    rows = ctx.conn.execute(f"SELECT {', '.join(cols)} FROM conclusions WHERE {where}", args).fetchall()
    out = [dict(zip(cols, r)) for r in rows]
    for r in out:
        r["source_ids"], r["premise_ids"] = json.loads(r["source_ids"]), json.loads(r["premise_ids"])
    return out


def forget_sources(ctx: WriteContext, workspace_id: str, message_ids: list[str]) -> set[Pair]:
    """Conclusions resting on these messages: removed, or (explicit ones with other sources) left with
    the other sources. Returns the (observer, observed, version) pairs touched."""
    if not message_ids:
        return set()
    gone = set(message_ids)
    rows = _conclusion_rows(ctx, "workspace_id = ? AND list_has_any(json_extract_string(source_ids, '$[*]'), "
                                 "?::VARCHAR[])", [workspace_id, message_ids])
    doomed, pairs = [], set()
    for r in rows:
        pairs.add((r["observer_id"], r["observed_id"], r["version"]))
        left = [s for s in r["source_ids"] if s not in gone]
        if not left or r["level"] != "explicit":
            doomed.append(r["id"])
        else:
            ctx.conn.execute("UPDATE conclusions SET source_ids = ? WHERE id = ?", [dumps(left), r["id"]])
    return pairs | delete_conclusions(ctx, workspace_id, doomed)


def delete_conclusions(ctx: WriteContext, workspace_id: str, ids: list[str]) -> set[Pair]:
    """Hard-delete conclusions and every deduction resting on one of them (to the end of the chain).
    Returns the pairs touched."""
    pairs: set[Pair] = set()
    doomed, frontier = set(ids), list(ids)
    while frontier:
        rows = _conclusion_rows(ctx, "workspace_id = ? AND list_has_any(json_extract_string(premise_ids, '$[*]'), "
                                     "?::VARCHAR[])", [workspace_id, frontier])
        frontier = [r["id"] for r in rows if r["id"] not in doomed]
        doomed.update(frontier)
    if doomed:
        found = ctx.conn.execute(
            "DELETE FROM conclusions WHERE workspace_id = ? AND id IN (SELECT unnest(?::VARCHAR[])) "
            "RETURNING observer_id, observed_id, version", [workspace_id, sorted(doomed)]).fetchall()
        pairs.update(tuple(r) for r in found)
    return pairs


def conclusion_exists(ctx: WriteContext, workspace_id: str, conclusion_id: str) -> bool:
    """Whether the conclusion is live (a soft-deleted one counts as gone for the API)."""
    return bool(ctx.conn.execute("SELECT 1 FROM conclusions WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL",
                                 [workspace_id, conclusion_id]).fetchall())


def drop_summaries(ctx: WriteContext, workspace_id: str, session_id: str, from_pk: int = 0) -> None:
    """Remove the session's summaries that cover `from_pk` or later (every version; later summaries
    build on earlier ones) and reset its summary units, so the worker writes them again from what is left."""
    ctx.conn.execute("DELETE FROM summaries WHERE workspace_id = ? AND session_id = ? AND last_event_pk >= ?",
                     [workspace_id, session_id, from_pk])
    ctx.conn.execute("DELETE FROM work_units WHERE kind = 'summary' AND workspace_id = ? AND session_id = ?",
                     [workspace_id, session_id])


def clear_run_texts(ctx: WriteContext, workspace_id: str, session_ids: list[str], observed: list[str]) -> None:
    """Blank the stored model outputs and errors of reasoning runs that may quote what is forgotten:
    every run of these sessions' units, and the card/profile runs about these peers (counts stay)."""
    ctx.conn.execute(
        "UPDATE reasoning_runs SET raw_output = NULL, error = NULL WHERE split_part(unit_key, ':', 3) = ? "
        "AND (split_part(unit_key, ':', 4) IN (SELECT unnest(?::VARCHAR[])) OR (task IN ('peer_card', 'peer_profile') "
        "AND split_part(unit_key, ':', 5) IN (SELECT unnest(?::VARCHAR[]))))", [workspace_id, session_ids, observed])
    ctx.conn.execute(
        "UPDATE work_units SET error = NULL WHERE workspace_id = ? AND error IS NOT NULL AND "
        "(session_id IN (SELECT unnest(?::VARCHAR[])) OR observed_id IN (SELECT unnest(?::VARCHAR[])))",
        [workspace_id, session_ids, observed])


def forget_peer_rows(ctx: WriteContext, workspace_id: str, peer_id: str) -> None:
    """The peer itself: its memberships, its representation units, every card, profile and conclusion
    it observes or is observed in (its messages go through `delete_events` first)."""
    ctx.mark_mutation()
    for table in ("conclusions", "peer_cards", "peer_profiles", "dreams", "dream_requests"):
        ctx.conn.execute(f"DELETE FROM {table} WHERE workspace_id = ? AND (observer_id = ? OR observed_id = ?)",
                         [workspace_id, peer_id, peer_id])
    ctx.conn.execute("DELETE FROM work_units WHERE workspace_id = ? AND observed_id = ?", [workspace_id, peer_id])
    ctx.conn.execute("DELETE FROM session_peers WHERE workspace_id = ? AND peer_id = ?", [workspace_id, peer_id])
    ctx.conn.execute("DELETE FROM peers WHERE workspace_id = ? AND id = ?", [workspace_id, peer_id])
    ctx.known.clear()
    ctx.counters.clear()


def forget_session_rows(ctx: WriteContext, workspace_id: str, session_id: str) -> None:
    """The session itself: conclusions stated in it, its summaries, units, run records, members and scope
    memberships."""
    ctx.mark_mutation()
    where = "workspace_id = ? AND session_id = ?"
    for table in ("conclusions", "summaries", "work_units", "session_peers", "scope_sessions"):
        ctx.conn.execute(f"DELETE FROM {table} WHERE {where}", [workspace_id, session_id])
    ctx.conn.execute("DELETE FROM reasoning_runs WHERE split_part(unit_key, ':', 3) = ? "
                     "AND split_part(unit_key, ':', 4) = ?", [workspace_id, session_id])
    ctx.conn.execute("DELETE FROM sessions WHERE workspace_id = ? AND id = ?", [workspace_id, session_id])
    ctx.known.clear()
    ctx.counters.clear()


def forget_workspace_rows(ctx: WriteContext, workspace_id: str) -> None:
    """Every row of the workspace, derived ones included."""
    ctx.mark_mutation()
    keep_pk_floor(ctx)
    for table in ("events", "message_embeddings", "conclusions", "summaries", "peer_cards", "peer_profiles",
                  "work_units", "session_peers", "sessions", "peers", "scope_sessions", "scopes", "dreams",
                  "dream_requests"):
        ctx.conn.execute(f"DELETE FROM {table} WHERE workspace_id = ?", [workspace_id])
    ctx.conn.execute("DELETE FROM reasoning_runs WHERE split_part(unit_key, ':', 3) = ?", [workspace_id])
    ctx.conn.execute("DELETE FROM workspaces WHERE id = ?", [workspace_id])
    ctx.known.clear()
    ctx.counters.clear()


# ---- the file: deleted rows' bytes out of it ------------------------------------------------------
def _rewrite(ctx: WriteContext, tables: list[str]) -> None:
    """Write each table's live rows anew. DuckDB keeps a deleted row's bytes in its row group (a
    deletion mask) and an updated value's old bytes too, through a CHECKPOINT, VACUUM and FORCE
    CHECKPOINT alike (measured, DuckDB 2.0.1): only rows written again leave the old blocks free."""
    for table in tables:
        ctx.conn.execute(f"CREATE TEMP TABLE forget_keep AS SELECT * FROM {table}")
        ctx.conn.execute(f"DELETE FROM {table}")
        ctx.conn.execute(f"INSERT INTO {table} SELECT * FROM forget_keep")
        ctx.conn.execute("DROP TABLE forget_keep")


def _fill(ctx: WriteContext, rows: int) -> None:
    """Append `rows` rows of 2 KiB of random hex (incompressible enough to take whole blocks)."""
    ctx.conn.execute("CREATE TABLE IF NOT EXISTS forget_fill (b VARCHAR)")
    digits = " || ".join("md5(random()::VARCHAR)" for _ in range(64))
    ctx.conn.execute(f"INSERT INTO forget_fill SELECT {digits} FROM range(?)", [rows])


class _Grouped(Exception):
    """A checkpoint met a transaction opened by an operation grouped before it: the writer re-runs it alone."""


def _done(ctx: WriteContext, mark: int) -> None:
    """Drop the fill and the pending mark (unless a delete since the scrub began set it again)."""
    ctx.conn.execute("DROP TABLE IF EXISTS forget_fill")
    ctx.conn.execute("DELETE FROM log_state WHERE key = 'scrub_pending' AND value = ?", [mark])


def _checkpoint_op(ctx: WriteContext) -> tuple[int, int]:
    if ctx.in_transaction:
        raise _Grouped()
    ctx.lookup("CHECKPOINT")
    block_size, free_blocks = one(ctx.lookup("SELECT block_size, free_blocks FROM pragma_database_size() "
                                                "WHERE database_name = current_database()"))
    return int(block_size), int(free_blocks)


def _checkpoint(store: Store) -> tuple[int, int]:
    """CHECKPOINT in the writer thread (no write of its own can be open meanwhile); returns (block size,
    free blocks)."""
    for attempt in range(20):
        try:
            return store.write(_checkpoint_op)
        except (_Grouped, duckdb.Error) as exc:
            log.debug("forgetting: checkpoint refused (%s), again", exc)
            time.sleep(0.05 * (attempt + 1))
    raise RuntimeError("forgetting: the database file could not be checkpointed")


def mark_scrub_pending(ctx: WriteContext) -> None:
    """Record, with the delete, that the file holds deleted bytes until a scrub: a process that stops
    before its scrub ends leaves it to the next start (`scrub_pending`)."""
    ctx.conn.execute("INSERT INTO log_state VALUES ('scrub_pending', 1) "
                     "ON CONFLICT DO UPDATE SET value = log_state.value + 1")


def scrub_pending(cur: Any) -> int:
    """The pending mark (0: none)."""
    row = cur.execute("SELECT value FROM log_state WHERE key = 'scrub_pending'").fetchone()
    return int(row[0]) if row else 0


def scrub(store: Store, tables: list[str]) -> int:
    """Take forgotten rows' bytes out of the file: rewrite `tables`, checkpoint (their old blocks become
    free, but DuckDB does not clear free blocks), then fill every free block with random data, checkpoint
    and drop it again. Returns the free blocks overwritten."""
    _checkpoint(store)  # a checkpoint writes rows deleted since the last one (marked deleted) into the file:
    mark = store.read(scrub_pending)
    store.write(lambda ctx: _rewrite(ctx, tables))  # fold them in first, so the rewrite frees their blocks
    block_size, free = _checkpoint(store)
    overwritten = free
    for _ in range(20):
        if free == 0:
            break
        store.write(functools.partial(_fill, rows=free * block_size // 1024 + 16))
        block_size, free = _checkpoint(store)
    store.write(lambda ctx: _done(ctx, mark))
    _checkpoint(store)
    if free:
        log.warning("forgetting: %d free blocks of the database file could not be overwritten", free)
    return overwritten
