"""Backups of the store as a folder of Parquet files (one per table, zstd) and a `manifest.json`.

A backup is logical, not a copy of the DuckDB file: it restores into a new file under this or a later
version of honcho-local (the restore applies the backup's migrations, loads the rows, then migrates
the rest), and it can leave the embedding vectors out (`vectors=False`), which makes it a fraction of
the size: the restore then embeds the same texts again with the same model (see
`services.backup`). The lexical index and the queue file are not kept; the server rebuilds the
index on start, and the worker's sweep re-queues every unit its cursors say lags.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from honcho_local import __version__
from honcho_local.errors import Conflict
from honcho_local.store import connection
from honcho_local.store.migrations import MIGRATIONS, migrate
from honcho_local.store.sql import scalar

FORMAT = 1
MANIFEST = "manifest.json"
# Vector columns a backup may leave out (the rows stay: they say what to embed again).
VECTORS = {"message_embeddings": "embedding", "conclusions": "embedding"}
SKIP = {"schema_migrations"}  # written by the restore's own migrations


class BackupError(Conflict):
    """A folder that is not a usable backup, or a target that already holds data (HTTP 409)."""


def _tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                        "ORDER BY table_name").fetchall()
    return [r[0] for r in rows if r[0] not in SKIP]


def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = conn.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? "
                        "ORDER BY column_index", [table]).fetchall()
    return [r[0] for r in rows]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export(conn: duckdb.DuckDBPyConnection, directory: Path, vectors: bool = True) -> dict[str, Any]:
    """Write every table to `directory` (created; must be empty) and return the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty")
    migrations = [r[0] for r in conn.execute("SELECT name FROM schema_migrations").fetchall()]
    order = [m.__name__ for m in MIGRATIONS]
    applied = [name for name in order if name in migrations]
    counts: dict[str, int] = {}
    conn.execute("BEGIN TRANSACTION")  # one snapshot for every table
    try:
        for table in _tables(conn):
            columns = [c for c in _columns(conn, table) if vectors or VECTORS.get(table) != c]
            select = ", ".join(_quote(c) for c in columns)
            path = directory / f"{table}.parquet"
            conn.execute(f"COPY (SELECT {select} FROM {_quote(table)}) TO {_literal(path)} "
                         "(FORMAT parquet, COMPRESSION zstd)")
            counts[table] = scalar(conn.execute(f"SELECT count(*) FROM {_quote(table)}"))
    finally:
        conn.execute("COMMIT")
    manifest = {"format": FORMAT, "honcho_local": __version__,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "migrations": applied, "vectors": vectors, "tables": counts}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{directory} holds no {MANIFEST}: not a honcho-local backup") from None
    except ValueError as exc:
        raise BackupError(f"{path} is not valid JSON: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: backup format {manifest.get('format')!r}; this version reads format {FORMAT}")
    known = [m.__name__ for m in MIGRATIONS]
    applied = manifest.get("migrations") or []
    if applied != known[:len(applied)]:
        unknown = [m for m in applied if m not in known]
        raise BackupError(f"{path}: made by a newer honcho-local (migrations {', '.join(unknown) or applied} "
                          "are unknown here); upgrade to restore it")
    for table in manifest.get("tables", {}):
        if not (directory / f"{table}.parquet").is_file():
            raise BackupError(f"{directory} lacks {table}.parquet, which its manifest lists")
    return manifest


def load(conn: duckdb.DuckDBPyConnection, directory: Path, manifest: dict[str, Any]) -> dict[str, int]:
    """Load a backup into an empty, unmigrated file: the backup's migrations, its rows, then the
    remaining migrations. Without vectors, `message_embeddings` is left empty (the caller embeds again
    what `embedding_rows` lists). Returns the rows loaded per table."""
    if scalar(conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main'")):
        raise BackupError("the target store is not empty: restore into a new data home")
    applied = manifest["migrations"]
    if applied:
        migrate(conn, upto=applied[-1])
    loaded: dict[str, int] = {}
    conn.execute("BEGIN TRANSACTION")
    try:
        for table in manifest["tables"]:
            if table not in _tables(conn):
                raise BackupError(f"the backup's table {table} is not in its own schema version")
            if table == "message_embeddings" and not manifest["vectors"]:
                continue
            path = directory / f"{table}.parquet"
            conn.execute(f"INSERT INTO {_quote(table)} BY NAME SELECT * FROM read_parquet({_literal(path)})")
            loaded[table] = scalar(conn.execute(f"SELECT count(*) FROM {_quote(table)}"))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    migrate(conn)
    return loaded


def embedding_rows(directory: Path, manifest: dict[str, Any]) -> list[tuple[int, str, str, str]]:
    """(event_pk, workspace_id, session_id, model) of each message embedding a vector-less backup
    had, in the order they were stored."""
    if manifest["vectors"] or "message_embeddings" not in manifest["tables"]:
        return []
    path = directory / "message_embeddings.parquet"
    with connection.scratch() as conn:
        columns = {r[0] for r in conn.execute(f"DESCRIBE SELECT * FROM read_parquet({_literal(path)})").fetchall()}
        order = "seq, event_pk" if "seq" in columns else "event_pk"
        return [tuple(r) for r in conn.execute(
            f"SELECT event_pk, workspace_id, session_id, model FROM read_parquet({_literal(path)}) ORDER BY {order}"
        ).fetchall()]


def export_file(db_path: Path, directory: Path, vectors: bool = True) -> dict[str, Any]:
    """`export` of the store file at `db_path`, which no other process may hold."""
    conn = connection.open_file(db_path)
    try:
        return export(conn, directory, vectors=vectors)
    finally:
        conn.close()


def load_file(path: Path, directory: Path, manifest: dict[str, Any]) -> dict[str, int]:
    """`load` into a new store file at `path`."""
    conn = connection.open_file(path)
    try:
        return load(conn, directory, manifest)
    finally:
        conn.close()


def checkpoint_file(path: Path) -> None:
    """Fold the file's WAL into it, so that the file alone is the store."""
    conn = connection.open_file(path)
    try:
        conn.execute("CHECKPOINT")
    finally:
        conn.close()


def conclusion_models(directory: Path, manifest: dict[str, Any]) -> set[str]:
    """The embedding models named by the backup's conclusions."""
    if "conclusions" not in manifest["tables"]:
        return set()
    with connection.scratch() as conn:
        return {r[0] for r in conn.execute(
            "SELECT DISTINCT embedding_model FROM read_parquet(?) WHERE embedding_model IS NOT NULL",
            [str(directory / "conclusions.parquet")]).fetchall()}


def message_texts(cur: Any) -> dict[int, tuple[str, str]]:
    """Every message's (speaker, content) by its log position."""
    return {pk: (peer, content) for pk, peer, content in cur.execute(
        "SELECT pk, peer_id, content FROM events WHERE kind = 'message'").fetchall()}


def conclusions_without_vectors(cur: Any, model: str) -> list[tuple[str, str]]:
    """(id, content) of the conclusions of `model` that have no vector yet, in the order they were stored."""
    return [tuple(r) for r in cur.execute(
        "SELECT id, content FROM conclusions WHERE embedding IS NULL AND embedding_model = ? ORDER BY created_at, id",
        [model]).fetchall()]


def relabel_conclusions(ctx: Any, model: str) -> None:
    """Name `model` as the embedding model of every conclusion without a vector (a backup restored under
    another embedding model than it was made with)."""
    ctx.conn.execute("UPDATE conclusions SET embedding_model = ? WHERE embedding IS NULL", [model])


def set_conclusion_vectors(ctx: Any, ids: list[str], vectors: list[list[float]]) -> None:
    ctx.conn.execute(
        "UPDATE conclusions SET embedding = v.embedding FROM (SELECT unnest(?::VARCHAR[]) AS id, "
        "unnest(?::FLOAT[][]) AS embedding) v WHERE conclusions.id = v.id", [ids, vectors])
