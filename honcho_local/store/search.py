"""Message search: a tantivy (BM25) lexical index next to the DuckDB file (the vector side is in
`store/vectors.py`, re-exported here as `MessageVectors`).

The lexical index is derived data: it holds every message event with `pk <= upto` (recorded in
`upto` next to the index). A background thread indexes events past `upto` straight from the log, so
it is kept consistent with DuckDB no matter which path appended them; on start it catches up (or
rebuilds when the index is missing or ahead of the log). A re-indexed event after a crash between
commit and `upto` is harmless: search de-duplicates by `pk`. Readers call `wait_fresh()` to see
their own writes.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from pathlib import Path

import tantivy

from honcho_local.store.db import Store
from honcho_local.store.vectors import MessageVectors  # noqa: F401 - re-export

log = logging.getLogger(__name__)
_WORDS = re.compile(r"\w+", re.UNICODE)
BATCH = 5_000
COMMIT_INTERVAL = 0.5


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("pk", stored=True, indexed=True, fast=True)
    for name in ("workspace_id", "session_id", "peer_id"):
        sb.add_text_field(name, stored=False, tokenizer_name="raw")
    sb.add_text_field("content", stored=False, tokenizer_name="en_stem")
    return sb.build()


class LexicalIndex:
    """BM25 over message contents, filtered by workspace / session / peer with exact terms."""

    def __init__(self, store: Store, directory: Path) -> None:
        self.store = store
        self.directory = directory
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._urgent = threading.Event()  # a reader waits in `wait_fresh`: index now
        self._stop = False
        self.upto = self._open()
        self._writer = self.index.writer(heap_size=32_000_000, num_threads=1)
        self._thread = threading.Thread(target=self._run, name="lexical-indexer", daemon=True)
        self._thread.start()

    def _open(self) -> int:
        upto_file = self.directory / "upto"
        log_max = self._log_max()
        upto = int(upto_file.read_text()) if upto_file.exists() else -1
        if upto < 0 or upto > log_max or not tantivy.Index.exists(str(self.directory)):
            shutil.rmtree(self.directory, ignore_errors=True)
            upto = 0
        self.directory.mkdir(parents=True, exist_ok=True)
        self.schema = _schema()
        self.index = tantivy.Index(self.schema, path=str(self.directory), reuse=True)
        return upto

    def _log_max(self) -> int:
        return self.store.read(lambda cur: cur.execute("SELECT coalesce(max(pk), 0) FROM events").fetchone()[0])

    def notify(self, *_: object) -> None:
        """Wake the indexer (an `Ingest` commit listener: returns at once)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop:
            try:
                while self._catch_up():
                    pass
            except Exception:  # pragma: no cover - keep indexing on later wake-ups
                log.exception("lexical indexing failed")
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            # Background indexing commits at most every COMMIT_INTERVAL (a tantivy commit per write
            # halved write throughput); a waiting reader cuts the pause short.
            self._urgent.wait(timeout=COMMIT_INTERVAL)
            self._urgent.clear()

    def _catch_up(self) -> bool:
        """Index the next batch of events past `upto`; True when there may be more."""
        rows = self.store.read(lambda cur: cur.execute(
            "SELECT pk, kind, workspace_id, session_id, peer_id, content FROM events WHERE pk > ? "
            "ORDER BY pk LIMIT ?", [self.upto, BATCH]).fetchall())
        if not rows:
            return False
        for pk, kind, ws, session, peer, content in rows:
            if kind == "message":
                self._writer.add_document(tantivy.Document(
                    pk=pk, workspace_id=ws, session_id=session, peer_id=peer, content=content))
        self._writer.commit()
        self.index.reload()
        upto = rows[-1][0]
        tmp = self.directory / "upto.tmp"
        tmp.write_text(str(upto))
        os.replace(tmp, self.directory / "upto")
        with self._cond:
            self.upto = upto
            self._cond.notify_all()
        return len(rows) == BATCH

    def wait_fresh(self, timeout: float = 5.0) -> bool:
        """Wait until everything committed to the log so far is searchable (bounded by `timeout`)."""
        target = self._log_max()
        if self.upto >= target:
            return True
        self._urgent.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.upto < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def search(self, text: str, limit: int, workspace_id: str, session_id: str | None = None,
               peer_id: str | None = None) -> list[int]:
        """Message pks ranked by BM25 (best first); an empty list when the text has no words.

        Messages holding every word come first (Honcho's `plainto_tsquery` is a conjunction); when
        fewer than `limit` do, messages holding any of the words fill up the list."""
        words = [w.lower() for w in _WORDS.findall(text)]
        if not words:
            return []
        scope = [(tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "workspace_id", workspace_id))]
        for field, value in (("session_id", session_id), ("peer_id", peer_id)):
            if value is not None:
                scope.append((tantivy.Occur.Must, tantivy.Query.term_query(self.schema, field, value)))
        searcher = self.index.searcher()
        pks: list[int] = []
        for query_text in (" ".join(f"+{w}" for w in words), " ".join(words)) if len(words) > 1 else (words[0],):
            try:
                text_query = self.index.parse_query(query_text, ["content"])
            except ValueError:
                continue
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, text_query), *scope])
            pks += [searcher.doc(addr)["pk"][0] for _, addr in searcher.search(query, limit, count=False).hits]
            if len(set(pks)) >= limit:
                break
        return list(dict.fromkeys(pks))[:limit]

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=10)
