"""Switching the embedding model through a backup without vectors, on a real DuckDB file: `restore` embeds
every message and conclusion again with the configured model (here a stand-in embedder), names that
model on each, and a later restore under the backup's own model still works."""

from __future__ import annotations

from pathlib import Path

import duckdb

from honcho_local.services.backup import backup, restore
from honcho_local.store import Store, embeddings, events, sessions
from honcho_local.store.conclusions import NewConclusion, insert_conclusions
from honcho_local.store.events import NewEvent


class Embedder:
    """Vectors from the text's length and first letter: deterministic, and not the backup's."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.texts: list[str] = []

    def embed(self, texts, kind="document"):
        self.texts += texts
        return type("Embedded", (), {"vectors": [[float(len(t)), float(ord(t[0])), 1.0] for t in texts]})()


def _source(db: Path) -> None:
    store = Store.open(db)
    try:
        def op(ctx):
            sessions.ensure_for_append(ctx, "w", "s", ["alice"])
            rows = events.append(ctx, "w", "s", [NewEvent("alice", "I moved to Lisbon.", "message", {}, None, 4, None),
                                               NewEvent("alice", "I play the cello.", "message", {}, None, 4, None)])
            embeddings.insert_message_embeddings(ctx, "w", "s", "old-embed",
                                                 [(r["pk"], [0.1, 0.2]) for r in rows])
            insert_conclusions(ctx, [NewConclusion("w", "alice", "alice", "Alice lives in Lisbon.",
                                                   embedding=[0.3, 0.4], embedding_model="old-embed")], "v1")
        store.write(op)
    finally:
        store.close()


def test_a_backup_without_vectors_restores_under_another_embedding_model(tmp_path: Path) -> None:
    _source(tmp_path / "a.duckdb")
    backup(tmp_path / "a.duckdb", tmp_path / "b", vectors=False)
    new = Embedder("new-embed")
    result = restore(tmp_path / "c.duckdb", tmp_path / "b", embedder_factory=lambda: new)
    assert result["embedded"] == {"messages": 2, "conclusions": 1}
    with duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT DISTINCT model FROM message_embeddings").fetchall() == [("new-embed",)]
        assert conn.execute("SELECT embedding_model, embedding FROM conclusions").fetchall() == [
            ("new-embed", [float(len("Alice lives in Lisbon.")), float(ord("A")), 1.0])]
        assert len(conn.execute("SELECT embedding FROM message_embeddings WHERE len(embedding) = 3").fetchall()) == 2
    assert "Alice lives in Lisbon." in new.texts and any("Lisbon" in t and t != "Alice lives in Lisbon."
                                                         for t in new.texts)

    same = Embedder("old-embed")
    restore(tmp_path / "d.duckdb", tmp_path / "b", embedder_factory=lambda: same)
    with duckdb.connect(str(tmp_path / "d.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT embedding_model FROM conclusions").fetchall() == [("old-embed",)]
