"""Message search: a tantivy (BM25) lexical index next to the DuckDB file (the vector side is in
`store/vectors.py`, re-exported here as `MessageVectors`).

The lexical index is derived data: it holds every message event with `pk <= upto` (recorded in
`upto` next to the index). A background thread indexes events past `upto` straight from the log, so
it is kept consistent with DuckDB no matter which path appended them; on start it catches up (or
rebuilds when the index is missing or ahead of the log). A re-indexed event after a crash between
commit and `upto` is harmless: search de-duplicates by `pk`.

Searches see every committed message without waiting for the indexer (a tantivy commit on disk takes
tens of milliseconds, and under a stream of writes the index is nearly always a commit behind): the
messages past the searcher's `upto` — the tail, normally under a second of writes — come from the
in-memory message rows (`store/message_rows.py`) and are scored in Python with tantivy's own BM25
(k1 1.2, b 0.75, idf and average field lengths from the searcher, the same en_stem analysis and field
boosts), then merged with the index's hits by score. Only a tail longer than `TAIL_MAX` messages (a
bulk import the indexer has not caught up with) makes a search wait for the indexer (`wait_fresh`).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import tantivy

from honcho_local.runtime import lower_this_thread
from honcho_local.store import faults
from honcho_local.store.db import Store
from honcho_local.store.lexical_tail import CONTEXT_BOOST, TailScorer, document_text
from honcho_local.store.message_rows import MessageRows
from honcho_local.store.sql import scalar
from honcho_local.store.vectors import MessageVectors  # noqa: F401 - re-export

log = logging.getLogger(__name__)
_WORDS = re.compile(r"\w+", re.UNICODE)
BATCH = 5_000
COMMIT_INTERVAL = 2.0
TAIL_MAX = 2_000  # un-indexed messages a search scores itself; past that it waits for the indexer


# Bump when the indexed fields change: an index of another version is rebuilt from the log.
SCHEMA_VERSION = "2"
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


def query_words(text: str) -> list[str]:
    words = [w.lower() for w in _WORDS.findall(text)]
    return [w for w in words if w not in STOPWORDS] or words


def _pk(value: int | float | None) -> int:
    """A hit's `pk` fast field: an integer on every document this module writes."""
    if not isinstance(value, int):
        raise TypeError(f"lexical index document without an integer pk: {value!r}")
    return value


class LexicalIndex:
    """BM25 over message contents, filtered by workspace / session / peer with exact terms."""

    def __init__(self, store: Store, directory: Path, rows: MessageRows | None = None) -> None:
        self.store = store
        self.directory = directory
        self.rows = rows  # the tail past the index comes from here; without it, searches wait_fresh
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._urgent = threading.Event()  # a reader waits in `wait_fresh`: index now
        self._stop = False
        self._rebuilds = [0, 0]  # rebuilds asked for (`forget`), rebuilds done
        self.upto = self._open()
        self._previous: dict[tuple[str, str], tuple[str, str]] = {}  # session -> last indexed (peer, content)
        self._searcher = self.index.searcher()  # replaced after each reload
        self._state = (self._searcher, self.upto)  # a searcher and the log position it holds, swapped together
        self.scorer = TailScorer(self.schema, 4 * TAIL_MAX)
        # tantivy starts its indexing, segment-updater and merge threads in the thread that makes the
        # writer, and new indexing threads in the one that commits: both happen in one thread below the
        # request path (`runtime.lower_this_thread`), whose GIL-free work then waits while requests want the cores.
        # The indexer's own Python thread keeps the normal priority: it holds the GIL while it builds
        # documents, and a lowered GIL holder makes the event loop and the DuckDB writer wait for it.
        self._background = ThreadPoolExecutor(1, thread_name_prefix="lexical-commit", initializer=lower_this_thread)
        self._writer: tantivy.IndexWriter | None = self._background.submit(
            self.index.writer, heap_size=32_000_000, num_threads=1).result()
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
        try:
            self.index = tantivy.Index(self.schema, path=str(self.directory), reuse=True)
        except (ValueError, OSError) as exc:  # a damaged folder: it is derived, so rebuild it (issue 31)
            faults.move_aside(self.directory, str(exc).splitlines()[0][:300])
            self.directory.mkdir(parents=True)
            upto = 0
            self.index = tantivy.Index(self.schema, path=str(self.directory), reuse=True)
        self._parsed = functools.lru_cache(maxsize=2048)(self._parse)
        version_file.write_text(SCHEMA_VERSION)
        return upto

    def _log_max(self) -> int:
        return self.store.read(lambda cur: scalar(cur.execute("SELECT coalesce(max(pk), 0) FROM events")))

    def notify(self, *_: object) -> None:
        """Wake the indexer (an `Ingest` commit listener: returns at once)."""
        self._wake.set()

    def _run(self) -> None:
        failing = False
        while not self._stop:
            failed = False
            try:
                if self._rebuilds[0] > self._rebuilds[1]:
                    self._rebuild()
                while self._catch_up():
                    pass
            except Exception as exc:  # noqa: BLE001 - keep indexing on later wake-ups
                if not failing:  # once per episode, not every COMMIT_INTERVAL (a full disk lasts)
                    log.warning("lexical indexing failed (searches score the unindexed messages themselves "
                                "meanwhile): %s", str(exc))
                failed = True
            # Renewed outside the handler, and the log record holds the text, not the exception: its
            # traceback keeps the failed batch's frame, and with it the dead writer and the directory's
            # writer lock, alive for as long as the exception lives.
            if failed:
                self._renew_writer()
            failing = failed
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            # Background indexing commits at most every COMMIT_INTERVAL (searches score the un-indexed
            # tail themselves; docs/decisions/007-tuned-constants.md); a reader that must wait (a tail
            # over TAIL_MAX) cuts it short.
            self._urgent.wait(timeout=COMMIT_INTERVAL)
            self._urgent.clear()

    def _catch_up(self) -> bool:
        """Index the next batch of events past `upto`; True when there may be more."""
        rows = self.store.read(lambda cur: cur.execute(
            "SELECT pk, kind, workspace_id, session_id, peer_id, content, created_at FROM events WHERE pk > ? "
            "ORDER BY pk LIMIT ?", [self.upto, BATCH]).fetchall())
        if not rows:
            return False
        writer = self._live_writer()
        self._load_previous({(r[2], r[3]) for r in rows if r[1] == "message"})
        for pk, kind, ws, session, peer, content, created_at in rows:
            if kind == "message":
                # The message before it in the session is indexed as weaker context: an answer
                # ("Adoption agencies.") is found by the words of the question it answers.
                prev = self._previous.pop((ws, session), None)
                writer.add_document(tantivy.Document(
                    pk=pk, workspace_id=ws, session_id=session, peer_id=peer,
                    content=document_text(peer, content, created_at),
                    context=f"{prev[0]}: {prev[1]}" if prev else ""))
                self._previous[(ws, session)] = (peer, content)
        while len(self._previous) > PREVIOUS_CACHE:
            self._previous.pop(next(iter(self._previous)))
        self._background.submit(writer.commit).result()
        self.index.reload()
        self._searcher = self.index.searcher()
        upto = rows[-1][0]
        tmp = self.directory / "upto.tmp"
        tmp.write_text(str(upto))
        os.replace(tmp, self.directory / "upto")
        with self._cond:
            self.upto = upto
            self._state = (self._searcher, upto)
            self._cond.notify_all()
        return len(rows) == BATCH

    def _renew_writer(self) -> None:
        """A fresh tantivy writer after a failed batch: an I/O error (a full disk) kills the writer for
        good, and the documents it held were never committed (`upto` did not move: they are indexed
        again). The old writer is dropped first, releasing the directory's writer lock."""
        self._writer = None
        self._previous.clear()
        try:
            self._writer = self._background.submit(self.index.writer, heap_size=32_000_000, num_threads=1).result()
        except Exception:  # the disk may still be full: tried again after the next failure
            log.debug("lexical index writer not renewed yet", exc_info=True)

    def _live_writer(self) -> tantivy.IndexWriter:
        """The writer; none after a renewal failed (the indexing loop tries again after this error)."""
        if self._writer is None:
            raise RuntimeError("no lexical index writer: renewing it failed (the disk may still be full)")
        return self._writer

    def forget(self, timeout: float = 600.0) -> bool:
        """Take deleted messages out of the index for good: every document is dropped and the index
        rebuilt from the log (a deleted document's words stay in its segment's term dictionary until
        tantivy merges the segment, and tantivy-py offers no merge to ask for). Waits until the rebuild
        has caught up with the log (bounded by `timeout`); searches meanwhile wait for it (`wait_fresh`)."""
        with self._cond:
            self._rebuilds[0] += 1
            wanted = self._rebuilds[0]
        self._urgent.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._rebuilds[1] < wanted:
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    return False
        return self.wait_fresh(max(0.0, deadline - time.monotonic()))

    def _rebuild(self) -> None:
        """Drop every document (their segment files go at the commit's garbage collection), from position 0."""
        with self._cond:
            wanted = self._rebuilds[0]
        writer = self._live_writer()
        writer.delete_all_documents()
        self._background.submit(writer.commit).result()
        self._background.submit(writer.garbage_collect_files).result()
        self.index.reload()
        self._searcher = self.index.searcher()
        self._previous.clear()
        self.scorer.clear()
        (self.directory / "upto").write_text("0")
        with self._cond:
            self.upto = 0
            self._state = (self._searcher, 0)
            self._rebuilds[1] = wanted
            self._cond.notify_all()

    def _load_previous(self, sessions: set[tuple[str, str]]) -> None:
        """The last indexed message of each session not in the cache (one grouped query). A semi-join on
        the two id columns, not a per-row `workspace_id || chr(0) || session_id` looked up in a list: on a
        1 M-event log 4-7 ms against 36-46 ms (on both cores, in the first second of every burst of new
        sessions, while the writer waits for a core)."""
        missing = [k for k in sessions if k not in self._previous]
        if not missing:
            return
        found = self.store.read(lambda cur: cur.execute(
            "SELECT e.workspace_id, e.session_id, arg_max(e.peer_id, e.pk), arg_max(e.content, e.pk) FROM events e "
            "SEMI JOIN (SELECT unnest(?::VARCHAR[]) AS ws, unnest(?::VARCHAR[]) AS s) k "
            "ON e.workspace_id = k.ws AND e.session_id = k.s WHERE e.kind = 'message' AND e.pk <= ? GROUP BY ALL",
            [[ws for ws, _ in missing], [s for _, s in missing], self.upto]).fetchall())
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
        searcher, upto = self._state
        tail: list[tuple[Any, ...]] = []
        if self.store.log_end > upto:  # committed messages the searcher does not hold yet
            found = self.rows.tail(upto, TAIL_MAX) if self.rows is not None else None
            if found is None:
                self.wait_fresh()
                searcher, upto = self._state
            else:
                tail = found
        terms = []
        if not self.scorer.holds_everything(searcher, workspace_id):  # else the clause filters nothing out
            terms.append(("workspace_id", workspace_id))
        terms += [(field, value) for field, value in (("session_id", session_id), ("peer_id", peer_id)) if value]
        scope = [(tantivy.Occur.Must, tantivy.Query.term_query(self.schema, f, v)) for f, v in terms]
        text_query = self._parsed(" ".join(words))
        if text_query is None:
            return []
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, text_query), *scope]) if scope else text_query
        hits = searcher.search(query, limit, count=False).hits
        pks = [_pk(v) for v in searcher.fast_field_values("pk", [addr for _, addr in hits])]  # no stored doc
        if tail:
            scored = self.scorer.score_tail(searcher, words, tail, terms, workspace_id, session_id, peer_id)
            if scored:
                merged = sorted([*zip((score for score, _ in hits), pks), *scored], key=lambda h: -h[0])
                pks = [pk for _, pk in merged]
        return list(dict.fromkeys(pks))[:limit]

    def _parse(self, words: str) -> Any:
        """The parsed BM25 query for these words (None when tantivy rejects them), cached: parsing is
        a third of a search's tantivy time (sampled under load: 9% of the server's samples against 16%
        for the search itself) and depends only on the words, like the query embedding cache."""
        try:
            return self.index.parse_query(words, ["content", "context"], field_boosts={"context": CONTEXT_BOOST})
        except ValueError:
            return None

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._urgent.set()  # the loop may be in its commit-interval wait
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._writer = None  # tantivy releases the directory's writer lock when its writer is dropped
            self._background.shutdown(wait=True)

