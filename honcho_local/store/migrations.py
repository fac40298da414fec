"""Schema migrations: ordered, named functions recorded in `schema_migrations`.

A fresh file runs them all; an older file runs the ones it lacks; both end identical. Never edit a
migration that has shipped: add a new one.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from honcho_local.store.sql import scalar

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


def m002_representations(conn: duckdb.DuckDBPyConnection) -> None:
    """The representation store: versions, work-unit cursors, conclusions, summaries, peer cards,
    peer profiles (prose), message embeddings and a record of every reasoning call.

    Every derived row carries `version` (a representation version name). History is kept: summaries,
    cards and profiles are appended, the newest row per key is current, so reads can travel in time.
    """
    conn.execute("""
        CREATE TABLE representation_versions (
            name VARCHAR PRIMARY KEY,
            fingerprint VARCHAR NOT NULL,
            reasoning_model VARCHAR NOT NULL,
            embedding_model VARCHAR NOT NULL,
            settings JSON NOT NULL,
            status VARCHAR NOT NULL,          -- active | inactive
            parent VARCHAR,                   -- the version it was reprocessed from, if any
            created_at TIMESTAMP NOT NULL
        )""")
    conn.execute("""
        CREATE TABLE work_units (
            key VARCHAR PRIMARY KEY,          -- kind:version:workspace:session[:observed]
            kind VARCHAR NOT NULL,            -- representation | summary
            version VARCHAR NOT NULL,
            workspace_id VARCHAR NOT NULL,
            session_id VARCHAR NOT NULL,
            observed_id VARCHAR,
            cursor_pk BIGINT NOT NULL,        -- last event (log pk) this unit has fully processed
            status VARCHAR NOT NULL,          -- ok | failed
            error VARCHAR,
            attempts INTEGER NOT NULL,
            next_attempt_at TIMESTAMP,
            updated_at TIMESTAMP NOT NULL
        )""")
    conn.execute("""
        CREATE TABLE conclusions (
            id VARCHAR PRIMARY KEY,
            workspace_id VARCHAR NOT NULL,
            observer_id VARCHAR NOT NULL,
            observed_id VARCHAR NOT NULL,
            session_id VARCHAR,
            level VARCHAR NOT NULL,           -- explicit | deductive | inductive | contradiction
            content VARCHAR NOT NULL,
            embedding FLOAT[],
            embedding_model VARCHAR,
            times_derived INTEGER NOT NULL,
            source_ids JSON NOT NULL,         -- public ids of the source messages
            premise_ids JSON NOT NULL,        -- conclusion ids a deduction rests on
            metadata JSON NOT NULL,
            version VARCHAR NOT NULL,
            observed_at TIMESTAMP,            -- created_at of the newest source message
            created_at TIMESTAMP NOT NULL,
            deleted_at TIMESTAMP
        )""")
    conn.execute("""
        CREATE TABLE summaries (
            id VARCHAR PRIMARY KEY,
            workspace_id VARCHAR NOT NULL,
            session_id VARCHAR NOT NULL,
            summary_type VARCHAR NOT NULL,    -- short | long
            content VARCHAR NOT NULL,
            last_event_pk BIGINT NOT NULL,
            message_id VARCHAR NOT NULL,      -- public id of the last covered message
            token_count INTEGER NOT NULL,
            version VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL
        )""")
    conn.execute("""
        CREATE TABLE peer_cards (
            id VARCHAR PRIMARY KEY,
            workspace_id VARCHAR NOT NULL,
            observer_id VARCHAR NOT NULL,
            observed_id VARCHAR NOT NULL,
            entries JSON NOT NULL,            -- list of "IDENTITY: ..." style strings
            source VARCHAR NOT NULL,          -- worker | api
            version VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL
        )""")
    conn.execute("""
        CREATE TABLE peer_profiles (
            id VARCHAR PRIMARY KEY,
            workspace_id VARCHAR NOT NULL,
            observer_id VARCHAR NOT NULL,
            observed_id VARCHAR NOT NULL,
            content VARCHAR NOT NULL,         -- short prose: who the peer is, what they care about now
            version VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL
        )""")
    conn.execute("""
        CREATE TABLE message_embeddings (
            event_pk BIGINT NOT NULL,
            workspace_id VARCHAR NOT NULL,
            session_id VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            embedding FLOAT[] NOT NULL,
            PRIMARY KEY (event_pk, model)
        )""")
    conn.execute("""
        CREATE TABLE reasoning_runs (
            id VARCHAR PRIMARY KEY,
            unit_key VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            task VARCHAR NOT NULL,            -- deriver | summary_short | summary_long | peer_card
            status VARCHAR NOT NULL,          -- ok | empty | failed
            first_event_pk BIGINT,
            last_event_pk BIGINT,
            events INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            seconds DOUBLE NOT NULL,
            outputs INTEGER NOT NULL,         -- conclusions stored (new + repeated)
            provider VARCHAR,
            model VARCHAR,
            fallback_used BOOLEAN NOT NULL,
            error VARCHAR,
            raw_output VARCHAR,
            created_at TIMESTAMP NOT NULL
        )""")


def m004_version_activations(conn: duckdb.DuckDBPyConnection) -> None:
    """Which version reads use by default, as an append-only history (so rollback is exact)."""
    conn.execute("""
        CREATE TABLE version_activations (
            seq BIGINT PRIMARY KEY,
            name VARCHAR NOT NULL,
            activated_at TIMESTAMP NOT NULL,
            rolled_back_at TIMESTAMP          -- set by `versions rollback` (an undo of this activation)
        )""")


def m005_log_state(conn: duckdb.DuckDBPyConnection) -> None:
    """Counters of the log that must survive deletes: `pk_floor` is the highest log position ever
    used, so positions of deleted events are never handed out again (derived data keyed by `pk` —
    the lexical index, message embeddings, cursors — would otherwise attach to the wrong message)."""
    conn.execute("CREATE TABLE log_state (key VARCHAR PRIMARY KEY, value BIGINT NOT NULL)")


def m006_embedding_order(conn: duckdb.DuckDBPyConnection) -> None:
    """`message_embeddings.seq`: the order rows were inserted in (from a sequence). In-memory vector
    matrices load the rows past the newest `seq` they hold; log positions do not serve, since the
    worker embeds sessions in any order. Existing rows take their log position, new ones the next value."""
    start = scalar(conn.execute("SELECT coalesce(max(event_pk), 0) + 1 FROM message_embeddings"))
    conn.execute(f"CREATE SEQUENCE message_embedding_seq START {int(start)}")
    conn.execute("ALTER TABLE message_embeddings ADD COLUMN seq BIGINT DEFAULT nextval('message_embedding_seq')")
    conn.execute("UPDATE message_embeddings SET seq = event_pk")
    # embeddings of deleted messages (session and workspace deletes left them until now)
    conn.execute("DELETE FROM message_embeddings WHERE event_pk NOT IN (SELECT pk FROM events)")


def m007_idempotency_keys(conn: duckdb.DuckDBPyConnection) -> None:
    """Idempotency keys of writes (issue 31): per workspace, the request's fingerprint and the log
    positions it stored (`first_pk`, `count`: one write's events are consecutive), written in the
    write's own transaction (`store/idempotency.py`)."""
    conn.execute("""CREATE TABLE idempotency_keys (
        workspace_id VARCHAR NOT NULL, key VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL,
        session_id VARCHAR NOT NULL, first_pk BIGINT NOT NULL, count INTEGER NOT NULL,
        created_at TIMESTAMP NOT NULL, PRIMARY KEY (workspace_id, key))""")


def m008_scopes(conn: duckdb.DuckDBPyConnection) -> None:
    """Scopes (Honcho 3.1+, `store/scopes.py`): named sets of sessions that confine recall, and their members
    in the order they joined."""
    conn.execute("""CREATE TABLE scopes (
        workspace_id VARCHAR NOT NULL, id VARCHAR NOT NULL, metadata JSON NOT NULL, created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (workspace_id, id))""")
    conn.execute("""CREATE TABLE scope_sessions (
        workspace_id VARCHAR NOT NULL, scope_id VARCHAR NOT NULL, session_id VARCHAR NOT NULL,
        added_at TIMESTAMP NOT NULL, PRIMARY KEY (workspace_id, scope_id, session_id))""")


def m009_dreams(conn: duckdb.DuckDBPyConnection) -> None:
    """A record of every dream (`services/dreams.py`): asked for (`schedule_dream`) or automatic
    (`services/dream_trigger.py`, which counts the conclusions made since a pair's last one)."""
    conn.execute("""CREATE TABLE dreams (
        workspace_id VARCHAR NOT NULL, observer_id VARCHAR NOT NULL, observed_id VARCHAR NOT NULL,
        version VARCHAR NOT NULL, dream_type VARCHAR NOT NULL, trigger VARCHAR NOT NULL,
        outcome JSON NOT NULL, finished_at TIMESTAMP NOT NULL)""")


def m010_dream_requests(conn: duckdb.DuckDBPyConnection) -> None:
    """Dreams asked for and not yet run (`schedule_dream` answers once the request is stored, as Honcho's
    once it is queued; the worker runs it and deletes the row). One pending request a pair and type."""
    conn.execute("""CREATE TABLE dream_requests (
        workspace_id VARCHAR NOT NULL, observer_id VARCHAR NOT NULL, observed_id VARCHAR NOT NULL,
        dream_type VARCHAR NOT NULL, session_id VARCHAR, rebuild BOOLEAN NOT NULL, requested_at TIMESTAMP NOT NULL,
        PRIMARY KEY (workspace_id, observer_id, observed_id, dream_type))""")


MIGRATIONS: list[Migration] = [m001_core, m002_representations, m004_version_activations, m005_log_state,
                               m006_embedding_order, m007_idempotency_keys, m008_scopes, m009_dreams,
                               m010_dream_requests]


def migrate(conn: duckdb.DuckDBPyConnection, upto: str | None = None) -> list[str]:
    """Apply every migration the file lacks (with `upto`, only those up to and including that one),
    each in its own transaction. Returns the names applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations").fetchall()}
    applied = []
    if upto is not None and upto not in {m.__name__ for m in MIGRATIONS}:
        raise ValueError(f"unknown migration {upto}")
    for migration in MIGRATIONS:
        name = migration.__name__
        if name in done:
            if name == upto:
                break
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
        if name == upto:
            break
    return applied
