"""Back up a data home's store to a folder, and restore one into a new data home.

`backup` reads the store file (no server running: DuckDB lets one process hold the file) and
writes Parquet files and a manifest (`store.backup`); `backup_open` does the same inside the running
server, on a cursor of its own, from one snapshot while writes go on (`POST /admin/backup`). `restore`
builds the store in a side file and moves it into place only once it is whole, so an interrupted
restore leaves no half store behind.
A backup made without vectors is embedded again here, with the configured embedding model, which must
be the one the backup's vectors came from: messages as the worker embeds them (speaker, then content),
conclusions by their content, in the order they were first stored.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from honcho_local.services.summary_step import message_embedding_text
from honcho_local.store import Store
from honcho_local.store import backup as files
from honcho_local.store import embeddings as embeddings_db
from honcho_local.store.backup import BackupError

log = logging.getLogger(__name__)
CHUNK = 64  # texts per embedding call, as the worker does


def backup(db_path: Path, directory: Path, vectors: bool = True) -> dict[str, Any]:
    """Write the store at `db_path` to `directory` (new or empty). Returns the manifest."""
    if not db_path.is_file():
        raise BackupError(f"there is no store at {db_path}")
    return files.export_file(db_path, directory, vectors=vectors)


def backup_open(store: Store, directory: Path, vectors: bool = True) -> dict[str, Any]:
    """Write the open store to `directory` (new or empty) from one snapshot. Returns the manifest."""
    with store.private_cursor() as cur:
        return files.export(cur, directory, vectors=vectors)


def _models_needed(directory: Path, manifest: dict[str, Any]) -> set[str]:
    if manifest["vectors"]:
        return set()
    return {row[3] for row in files.embedding_rows(directory, manifest)} | files.conclusion_models(directory, manifest)


def restore(db_path: Path, directory: Path, embedder_factory: Callable[[], Any] | None = None,
            progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Restore the backup in `directory` as the store at `db_path`, which must not exist yet.
    Returns {"tables": rows loaded per table, "embedded": {"messages": n, "conclusions": n}}."""
    manifest = files.read_manifest(directory)
    if db_path.exists():
        raise BackupError(f"a store already exists at {db_path}: restore into a new data home (--home)")
    needed = _models_needed(directory, manifest)
    embedder = None
    if needed:
        if embedder_factory is None:
            raise BackupError("the backup has no vectors and no embedding model is available to embed it again")
        embedder = embedder_factory()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    side = db_path.with_name(db_path.name + ".restoring")
    for stale in (side, side.with_name(side.name + ".wal")):
        stale.unlink(missing_ok=True)
    loaded = files.load_file(side, directory, manifest)
    embedded = {"messages": 0, "conclusions": 0}
    if embedder is not None:
        store = Store.open(side)
        try:
            if needed != {embedder.model}:  # embedded anew with the configured model: how to switch models
                store.write(functools.partial(files.relabel_conclusions, model=embedder.model))
            embedded["messages"] = _embed_messages(store, files.embedding_rows(directory, manifest), embedder,
                                                   progress)
            embedded["conclusions"] = _embed_conclusions(store, embedder, progress)
        finally:
            store.close()
    files.checkpoint_file(side)
    side.replace(db_path)
    return {"tables": loaded, "embedded": embedded, "manifest": manifest}


def _embed_messages(store: Store, rows: list[tuple[int, str, str, str]], embedder: Any,
                    progress: Callable[[str, int, int], None] | None) -> int:
    """Embed again the messages the backup had vectors for, in their original order, a chunk per session."""
    texts = store.read(files.message_texts)
    done = 0
    start = 0
    while start < len(rows):
        ws, session = rows[start][1], rows[start][2]
        chunk: list[int] = []
        while start < len(rows) and len(chunk) < CHUNK and rows[start][1:3] == (ws, session):
            if rows[start][0] in texts:
                chunk.append(rows[start][0])
            start += 1
        if chunk:
            vectors = embedder.embed([message_embedding_text(*texts[pk]) for pk in chunk], kind="document").vectors
            store.write(lambda ctx: embeddings_db.insert_message_embeddings(
                ctx, ws, session, embedder.model, list(zip(chunk, [list(v) for v in vectors]))))
            done += len(chunk)
        if progress:
            progress("messages", start, len(rows))
    return done


def _embed_conclusions(store: Store, embedder: Any, progress: Callable[[str, int, int], None] | None) -> int:
    rows = store.read(lambda cur: files.conclusions_without_vectors(cur, embedder.model))
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        vectors = embedder.embed([content for _, content in chunk], kind="document").vectors
        ids, lists = [cid for cid, _ in chunk], [list(v) for v in vectors]
        store.write(functools.partial(files.set_conclusion_vectors, ids=ids, vectors=lists))
        if progress:
            progress("conclusions", min(start + CHUNK, len(rows)), len(rows))
    return len(rows)
