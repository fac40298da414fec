"""Schema migrations: ordered, named functions recorded in `schema_migrations`.

A fresh file runs them all; an older file runs the ones it lacks; both end identical. Never edit a
migration that has shipped: add a new one.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def m001_core(conn: duckdb.DuckDBPyConnection) -> None:
    """Workspaces, peers, sessions, membership and the append-only event log."""
    conn.execute("""
        CREATE TABLE workspaces (
            id VARCHAR PRIMARY KEY,
            metadata JSON NOT NULL,
            configuration JSON NOT NULL,
            internal_metadata JSON NOT NULL,
            created_at TIMESTAMP NOT NULL
        )""")
    conn.execute("""
        CREATE TABLE peers (
            workspace_id VARCHAR NOT NULL,
            id VARCHAR NOT NULL,
            metadata JSON NOT NULL,
            configuration JSON NOT NULL,
            internal_metadata JSON NOT NULL,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (workspace_id, id)
        )""")
    conn.execute("""
        CREATE TABLE sessions (
            workspace_id VARCHAR NOT NULL,
            id VARCHAR NOT NULL,
            is_active BOOLEAN NOT NULL,
            metadata JSON NOT NULL,
            configuration JSON NOT NULL,
            internal_metadata JSON NOT NULL,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (workspace_id, id)
        )""")
    conn.execute("""
        CREATE TABLE session_peers (
            workspace_id VARCHAR NOT NULL,
            session_id VARCHAR NOT NULL,
            peer_id VARCHAR NOT NULL,
            observe_me BOOLEAN,
            observe_others BOOLEAN,
            joined_at TIMESTAMP NOT NULL,
            left_at TIMESTAMP,
            PRIMARY KEY (workspace_id, session_id, peer_id)
        )""")
    # The event log. `pk` is the global log order; `seq` the order within a session. Content is
    # never updated in place; only `metadata` may be replaced (PUT message).
    conn.execute("""
        CREATE TABLE events (
            pk BIGINT PRIMARY KEY,
            id VARCHAR NOT NULL UNIQUE,
            workspace_id VARCHAR NOT NULL,
            session_id VARCHAR NOT NULL,
            peer_id VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            seq BIGINT NOT NULL,
            content VARCHAR NOT NULL,
            metadata JSON NOT NULL,
            configuration JSON,
            token_count INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL,
            recorded_at TIMESTAMP NOT NULL
        )""")


MIGRATIONS: list[Migration] = [m001_core]


def migrate(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every migration the file lacks, each in its own transaction. Returns the names applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations").fetchall()}
    applied = []
    for migration in MIGRATIONS:
        name = migration.__name__
        if name in done:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            migration(conn)
            conn.execute("INSERT INTO schema_migrations VALUES (?, now()::TIMESTAMP)", [name])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
