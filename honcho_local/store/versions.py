"""Representation versions as stored: the `representation_versions` rows (what produced a version and
its overrides) and the `version_activations` history (the latest one not rolled back is the default).
What a version means, and which one a read uses, is `services/versions.py`."""

from __future__ import annotations

import json
from typing import Any

from honcho_local.store.db import WriteContext, utcnow
from honcho_local.store.sql import Cursor, scalar

VERSION_LIST_KEYS = ("name", "status", "reasoning_model", "fingerprint", "parent", "created_at", "conclusions")


def insert_version(ctx: WriteContext, name: str, fingerprint: str, reasoning_model: str, embedding_model: str,
                   settings: dict[str, Any], parent: str | None) -> None:
    ctx.conn.execute("INSERT INTO representation_versions VALUES (?, ?, ?, ?, ?, 'active', ?, ?)",
                     [name, fingerprint, reasoning_model, embedding_model, json.dumps(settings, default=str), parent,
                      utcnow()])


def version_fingerprint(cur: Cursor, name: str) -> str | None:
    row = cur.execute("SELECT fingerprint FROM representation_versions WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def version_settings(cur: Cursor, name: str) -> dict[str, Any] | None:
    """The stored settings document of a version (None when there is no such version)."""
    row = cur.execute("SELECT settings FROM representation_versions WHERE name = ?", [name]).fetchone()
    return json.loads(row[0]) if row else None


def active_version_settings(cur: Cursor) -> list[tuple[str, dict[str, Any]]]:
    """(name, settings document) of every active version, oldest first."""
    rows = cur.execute("SELECT name, settings FROM representation_versions WHERE status = 'active' "
                       "ORDER BY created_at").fetchall()
    return [(name, json.loads(settings)) for name, settings in rows]


def version_rows(cur: Cursor) -> list[dict[str, Any]]:
    """Every version with its count of live conclusions (`VERSION_LIST_KEYS`), oldest first."""
    rows = cur.execute(
        "SELECT v.name, v.status, v.reasoning_model, v.fingerprint, v.parent, v.created_at, "
        "(SELECT count(*) FROM conclusions c WHERE c.version = v.name AND c.deleted_at IS NULL) "
        "FROM representation_versions v ORDER BY v.created_at").fetchall()
    return [dict(zip(VERSION_LIST_KEYS, r)) for r in rows]


def latest_activation(cur: Cursor) -> str | None:
    """The name of the latest activation not rolled back."""
    # max_by rather than ORDER BY … LIMIT 1: 0.46 vs 1.0 ms in DuckDB on a one-row table
    row = cur.execute("SELECT max_by(name, seq) FROM version_activations WHERE rolled_back_at IS NULL").fetchone()
    return row[0] if row and row[0] else None


def record_activation(ctx: WriteContext, name: str) -> None:
    seq = scalar(ctx.conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM version_activations"))
    ctx.conn.execute("INSERT INTO version_activations VALUES (?, ?, ?, NULL)", [seq, name, utcnow()])
    ctx.conn.execute("UPDATE representation_versions SET status = 'active' WHERE name = ?", [name])


def live_activations(ctx: WriteContext, limit: int) -> list[tuple[int, str]]:
    """(seq, name) of the latest activations not rolled back, newest first."""
    return [(seq, name) for seq, name in ctx.conn.execute(
        "SELECT seq, name FROM version_activations WHERE rolled_back_at IS NULL ORDER BY seq DESC LIMIT ?",
        [limit]).fetchall()]


def roll_back_activation(ctx: WriteContext, seq: int) -> None:
    ctx.conn.execute("UPDATE version_activations SET rolled_back_at = ? WHERE seq = ?", [utcnow(), seq])
