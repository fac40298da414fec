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

import functools
import logging
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import tantivy

from honcho_local.store.db import Store
from honcho_local.store.vectors import MessageVectors  # noqa: F401 - re-export

log = logging.getLogger(__name__)
_WORDS = re.compile(r"\w+", re.UNICODE)
BATCH = 5_000
COMMIT_INTERVAL = 0.5


# Bump when the indexed fields change: an index of another version is rebuilt from the log.
SCHEMA_VERSION = "2"
CONTEXT_BOOST = 0.5
PREVIOUS_CACHE = 10_000
# Question words and function words carry no topic; BM25 weighs them low but they still add noise to
# conversational queries ("When did Caroline go to the support group?").
STOPWORDS = frozenset("""a an the and or but of to in on at for with from by as about into after before over is am are
was were be been being do does did doing what when where who whom whose which why how that this these those it its i
me my mine you your yours he him his she her hers they them their theirs we us our ours has have had having will would
can could should shall may might must not no so than then there here if any some""".split())


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("pk", stored=True, indexed=True, fast=True)
    for name in ("workspace_id", "session_id", "peer_id"):
        sb.add_text_field(name, stored=False, tokenizer_name="raw")
    sb.add_text_field("content", stored=False, tokenizer_name="en_stem")
    sb.add_text_field("context", stored=False, tokenizer_name="en_stem")
    return sb.build()


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def document_text(peer_id: str, content: str, created_at: Any) -> str:
    """What a message is indexed as: its date in words, its speaker and its words (questions name
    people and dates: "What did Caroline do in May 2023?")."""
    if created_at is None:
        return f"{peer_id}: {content}"
    # not strftime("%d %B %Y"): ~3x slower on the write path's indexer, and %B follows the locale
    return f"{created_at.day:02d} {_MONTHS[created_at.month - 1]} {created_at.year} {peer_id}: {content}"


def query_words(text: str) -> list[str]:
    words = [w.lower() for w in _WORDS.findall(text)]
    return [w for w in words if w not in STOPWORDS] or words


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
        self._previous: dict[tuple[str, str], tuple[str, str]] = {}  # session -> last indexed (peer, content)
        self._searcher = self.index.searcher()  # replaced after each reload
        self._whole: tuple[Any, dict[str, bool]] = (None, {})  # (searcher, workspace -> holds every doc)
        self._writer = self.index.writer(heap_size=32_000_000, num_threads=1)
        self._thread = threading.Thread(target=self._run, name="lexical-indexer", daemon=True)
        self._thread.start()

    def _open(self) -> int:
        upto_file = self.directory / "upto"
        version_file = self.directory / "schema_version"
        log_max = self._log_max()
        upto = int(upto_file.read_text()) if upto_file.exists() else -1
        current = version_file.exists() and version_file.read_text().strip() == SCHEMA_VERSION
        if upto < 0 or upto > log_max or not current or not tantivy.Index.exists(str(self.directory)):
            shutil.rmtree(self.directory, ignore_errors=True)
            upto = 0
        self.directory.mkdir(parents=True, exist_ok=True)
        self.schema = _schema()
        self.index = tantivy.Index(self.schema, path=str(self.directory), reuse=True)
        self._parsed = functools.lru_cache(maxsize=2048)(self._parse)
        version_file.write_text(SCHEMA_VERSION)
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
            "SELECT pk, kind, workspace_id, session_id, peer_id, content, created_at FROM events WHERE pk > ? "
            "ORDER BY pk LIMIT ?", [self.upto, BATCH]).fetchall())
        if not rows:
            return False
        self._load_previous({(r[2], r[3]) for r in rows if r[1] == "message"})
        for pk, kind, ws, session, peer, content, created_at in rows:
            if kind == "message":
                # The message before it in the session is indexed as weaker context: an answer
                # ("Adoption agencies.") is found by the words of the question it answers.
                prev = self._previous.pop((ws, session), None)
                self._writer.add_document(tantivy.Document(
                    pk=pk, workspace_id=ws, session_id=session, peer_id=peer,
                    content=document_text(peer, content, created_at),
                    context=f"{prev[0]}: {prev[1]}" if prev else ""))
                self._previous[(ws, session)] = (peer, content)
        while len(self._previous) > PREVIOUS_CACHE:
            self._previous.pop(next(iter(self._previous)))
        self._writer.commit()
        self.index.reload()
        self._searcher = self.index.searcher()
        upto = rows[-1][0]
        tmp = self.directory / "upto.tmp"
        tmp.write_text(str(upto))
        os.replace(tmp, self.directory / "upto")
        with self._cond:
            self.upto = upto
            self._cond.notify_all()
        return len(rows) == BATCH

    def _load_previous(self, sessions: set[tuple[str, str]]) -> None:
        """The last indexed message of each session not in the cache (one grouped query)."""
        missing = [k for k in sessions if k not in self._previous]
        if not missing:
            return
        found = self.store.read(lambda cur: cur.execute(
            "SELECT workspace_id, session_id, arg_max(peer_id, pk), arg_max(content, pk) FROM events "
            "WHERE kind = 'message' AND pk <= ? AND list_contains(?::VARCHAR[], workspace_id || chr(0) || session_id) "
            "GROUP BY ALL", [self.upto, [f"{ws}\0{s}" for ws, s in missing]]).fetchall())
        for ws, session, peer, content in found:
            self._previous[(ws, session)] = (peer, content)

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
        """Message pks ranked by BM25 over any of the query's words (best first); an empty list when the
        text has no words. (A first pass requiring every word, like Honcho's `plainto_tsquery`, was
        measured on LoCoMo: no better recall with stopwords dropped, and it cost a dense conjunction
        per query at workspace level; BM25 already ranks messages holding more of the words higher.)"""
        words = query_words(text)
        if not words:
            return []
        searcher = self._searcher
        scope = []
        if not self._holds_everything(searcher, workspace_id):  # else the clause filters nothing out
            scope.append((tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "workspace_id", workspace_id)))
        for field, value in (("session_id", session_id), ("peer_id", peer_id)):
            if value is not None:
                scope.append((tantivy.Occur.Must, tantivy.Query.term_query(self.schema, field, value)))
        text_query = self._parsed(" ".join(words))
        if text_query is None:
            return []
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, text_query), *scope]) if scope else text_query
        hits = searcher.search(query, limit, count=False).hits
        pks = searcher.fast_field_values("pk", [addr for _, addr in hits])  # the pk column, no stored doc
        return list(dict.fromkeys(pks))[:limit]

    def _parse(self, words: str) -> Any:
        """The parsed BM25 query for these words (None when tantivy rejects them), cached: parsing is
        a third of a search's tantivy time (sampled under load: 9% of the server's samples against 16%
        for the search itself) and depends only on the words, like the query embedding cache."""
        try:
            return self.index.parse_query(words, ["content", "context"], field_boosts={"context": CONTEXT_BOOST})
        except ValueError:
            return None

    def _holds_everything(self, searcher: Any, workspace_id: str) -> bool:
        """Whether every document of this searcher belongs to the workspace (the usual single-workspace
        case): then the workspace clause is left out of the query. That clause scores the same for
        every document (one term in a one-token field), so dropping it does not change the ranking
        (measured: 0.25 ms of a 1 ms BM25 query over 100,000 messages). Counted once per searcher."""
        cached_searcher, flags = self._whole
        if cached_searcher is not searcher:
            flags = {}
            self._whole = (searcher, flags)
        found = flags.get(workspace_id)
        if found is None:
            term = tantivy.Query.term_query(self.schema, "workspace_id", workspace_id)
            found = flags[workspace_id] = searcher.search(term, 1, count=True).count == searcher.num_docs
        return found

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=10)

