"""Message embeddings in memory: one matrix per (workspace, model) for cosine search.

Scopes up to `EXACT_MAX` vectors (a session, a peer, a small workspace) are searched exactly. A
larger scope uses an inverted-file index (faiss IVF: k-means centroids, rows grouped by their nearest
centroid, the `nprobe` nearest lists scanned), built lazily and kept while the matrix grows by
adding new rows to their nearest centroid's list; it is rebuilt when the matrix has doubled. The matrix
follows `message_embeddings` with delta loads (rows past the newest loaded `seq`, the table's insertion
order: the worker embeds sessions in any order, so log positions arrive out of order and a delta by
position missed rows, which forced a full reload — seconds of work — on most refreshes under writes),
checked at most every `refresh_seconds` (embeddings arrive asynchronously from the worker anyway).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import faiss
import numpy as np

from honcho_local.runtime import one_omp_thread
from honcho_local.store.db import Store
from honcho_local.store.sql import one

log = logging.getLogger(__name__)

EXACT_MAX = 20_000
NPROBE = 10
SCOPE_CACHE_BYTES = 256 << 20  # gathered session / peer sub-matrices kept per workspace matrix
_PARAMS: dict[int, Any] = {}  # faiss search parameters by nprobe


def _unit(rows: np.ndarray | list[list[float]]) -> np.ndarray:
    """Rows scaled to unit length (a float32 array is scaled in place: callers pass arrays they own)."""
    vectors = np.asarray(rows, dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


class _ReadWriteLock:
    """Many readers or one writer; a waiting writer goes first (searches from several threads can
    overlap without end, and a reader-first lock then never let the worker add its vectors)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass
class _Ivf:
    """An inverted-file index over the matrix's rows (faiss `IndexIVFScalarQuantizer` with fp16 codes,
    inner product on unit vectors = cosine); faiss ids are row numbers. One search is one call that
    releases the GIL. fp16 codes halve the index's memory (it holds a second copy of every vector) and
    the bytes a search reads (docs/decisions/007-tuned-constants.md)."""

    index: Any
    built_count: int
    # faiss searches may run together, but not during an add (docs/decisions/007-tuned-constants.md)
    lock: _ReadWriteLock = field(default_factory=lambda: _ReadWriteLock())

    @classmethod
    def build(cls, m: _Matrix, seed: int = 0) -> _Ivf:
        """k-means centroids (k = 2 sqrt(n)) trained on a sample, then every row added."""
        n, dims = m.vectors.shape
        k = max(16, int(2 * math.sqrt(n)))
        one_omp_thread(faiss)
        # fp16 codes (by_residual off): half the bytes a search reads, the same hits
        index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dims), dims, k, faiss.ScalarQuantizer.QT_fp16,
                                              faiss.METRIC_INNER_PRODUCT, False)
        index.cp.niter, index.cp.seed, index.cp.max_points_per_centroid = 6, seed, 40
        index.train(m.vectors)  # faiss samples 40 points per centroid itself
        index.add(m.vectors)
        return cls(index, n)

    def add(self, vectors: np.ndarray, first_row: int) -> None:
        one_omp_thread(faiss)
        with self.lock.writing():
            assert self.index.ntotal == first_row, "rows reach the index in order"
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, m: _Matrix, query: np.ndarray, limit: int, nprobe: int = NPROBE) -> list[int]:
        """Row numbers of the best `limit` rows among the `nprobe` lists nearest to the query, best first."""
        one_omp_thread(faiss)
        params = _PARAMS.get(nprobe)
        if params is None:  # read-only during a search: shared by every thread
            params = faiss.SearchParametersIVF()
            params.nprobe = nprobe  # what the keyword form sets; faiss's stubs declare no keyword __init__
            _PARAMS[nprobe] = params
        with self.lock.reading():
            _, rows = self.index.search(query.reshape(1, -1), limit, params=params)
        return [int(r) for r in rows[0] if r >= 0]


@dataclass
class _Matrix:
    """Message vectors of one (workspace, model). `columns` = (pks, session codes, peer codes, unit
    vectors) is replaced as one tuple, so a search that takes it once sees columns of one length
    while another thread appends (reading them one by one raised shape errors under writes)."""

    columns: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    codes: dict[str, int] = field(default_factory=dict)
    max_seq: int = 0                             # the newest `message_embeddings.seq` loaded
    table_rows: int = 0                          # the table's rows up to max_seq (a deleted message's too)
    checked: float = 0.0
    generation: int = -2                         # the store's commit count at the last check
    ivf: _Ivf | None = None
    scopes: dict = field(default_factory=dict)   # (session, peer) -> (rows covered, pks, vectors)
    scope_bytes: int = 0
    buffers: list = field(default_factory=list)  # the columns' buffers (the columns are views of their first rows)

    @property
    def pks(self) -> np.ndarray:
        return self.columns[0]

    @property
    def vectors(self) -> np.ndarray:
        return self.columns[3]

    @property
    def count(self) -> int:
        return len(self.columns[0])

    def append(self, pks: np.ndarray, sessions: Iterable[str], peers: Iterable[str], vectors: np.ndarray) -> None:
        """Add rows (the delta since the last load; `vectors` unit length) without copying what is
        held: the columns are views of buffers that grow by doubling (a search holding an older view
        keeps a valid one; copying a 100,000-row matrix on each refresh made searches under a stream
        of writes take seconds). One thread appends at a time (`MessageVectors._lock`)."""
        if not len(pks):
            return
        first, n = self.count, self.count + len(pks)
        code = self.codes.setdefault
        new: tuple[np.ndarray, ...] = (np.asarray(pks, np.int64),
               np.fromiter((code(v, len(self.codes)) for v in sessions), np.int32, len(pks)),
               np.fromiter((code(v, len(self.codes)) for v in peers), np.int32, len(pks)),
               vectors)
        views = []
        for i, (held, added) in enumerate(zip(self.columns, new)):
            buffer = self.buffers[i] if i < len(self.buffers) else None
            if buffer is None or len(buffer) < n or buffer.shape[1:] != added.shape[1:]:
                grown = np.empty((max(n, 2 * first, 1024), *added.shape[1:]), added.dtype)
                grown[:first] = held
                buffer = grown
                if i < len(self.buffers):
                    self.buffers[i] = buffer
                else:
                    self.buffers.append(buffer)
            buffer[first:n] = added  # past every view handed out: no reader sees these rows change
            views.append(buffer[:n])
        self.columns = (views[0], views[1], views[2], views[3])
        if self.ivf is not None:
            self.ivf.add(vectors, first)

    def search(self, query: np.ndarray, limit: int, session_id: str | None = None, peer_id: str | None = None,
               build_lock: threading.Lock | None = None) -> list[int]:
        """Pks of the rows nearest a unit `query`, best first: exact within a scope or a small
        matrix, the IVF index (built on first need) otherwise. `build_lock` is held while the index is
        built: the owner's lock, under which rows are appended, so none is appended during a build."""
        if self.count == 0:
            return []
        scoped = self.scope(session_id, peer_id)
        if scoped is None and self.count > EXACT_MAX:
            if self.ivf is None:
                with build_lock or contextlib.nullcontext():
                    if self.ivf is None:
                        self.ivf = _Ivf.build(self)
            rows = self.ivf.search(self, query, limit)
            return self.pks[rows].tolist()  # (taken after the search: rows added meanwhile are in it)
        if scoped is None:
            pks, _, _, vectors = self.columns
        else:
            pks, vectors = scoped
        if len(pks) == 0:
            return []
        scores = vectors @ query
        k = min(limit, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        return pks[top[np.argsort(-scores[top])]].tolist()

    def scope(self, session_id: str | None, peer_id: str | None) -> tuple[np.ndarray, np.ndarray] | None:
        """The pks and vectors of a session's and/or a peer's messages as one contiguous sub-matrix
        (None: no restriction). Kept within SCOPE_CACHE_BYTES and extended with just the rows added
        since (gathering a peer's rows out of a large matrix costs more than scoring them)."""
        if session_id is None and peer_id is None:
            return None
        key = (session_id, peer_id)
        columns = self.columns
        n = len(columns[0])
        found = self.scopes.get(key)
        if found is not None and found[0] == n:
            return found[1], found[2]
        start = found[0] if found is not None and found[0] < n else 0
        pks, sessions, peers, vectors = (c[start:n] for c in columns)
        mask = np.ones(n - start, bool)
        for column, value in ((sessions, session_id), (peers, peer_id)):
            if value is not None:
                mask &= column == self.codes.get(value, -1)
        rows = np.flatnonzero(mask)
        part = (pks[rows], np.ascontiguousarray(vectors[rows]))
        if start:
            part = (np.concatenate([found[1], part[0]]), np.concatenate([found[2], part[1]]))  # type: ignore[index]
        size = part[0].nbytes + part[1].nbytes
        if start:  # the extended entry replaces the one counted before
            size -= found[1].nbytes + found[2].nbytes  # type: ignore[index]
        if self.scope_bytes + size > SCOPE_CACHE_BYTES:
            self.scopes, self.scope_bytes = {}, 0
            size = part[0].nbytes + part[1].nbytes
        current = self.scopes.get(key)
        if current is None or current[0] < n:  # a slower thread's older result does not replace a newer one
            self.scopes[key] = (n, *part)
            self.scope_bytes += size
        return part


def _empty() -> _Matrix:
    none = np.zeros(0, np.int32)
    return _Matrix((none.astype(np.int64), none, none, np.zeros((0, 1), np.float32)))


class MessageVectors:
    """Cosine search over message embeddings, exact for small scopes, IVF for large ones."""

    def __init__(self, store: Store, refresh_seconds: float = 0.5) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self._cache: dict[tuple[str, str], _Matrix] = {}
        self._lock = threading.Lock()

    def _load(self, m: _Matrix, workspace_id: str, model: str, upto_seq: int) -> None:
        """Append the rows with `m.max_seq < seq <= upto_seq`. `seq` is the insertion order, which the
        single writer follows in commit order, so the rows any reader sees are a prefix of it and the
        rows up to `upto_seq` (the newest seen by the count query) are the ones that query counted.
        `m.table_rows` counts them all, rows of since-deleted messages included (not searchable:
        they are left out of the matrix). Columns come back as numpy arrays: reading 100,000 rows as
        Python lists took 5.3 s of GIL-holding conversion, as arrays 0.9 s."""
        cols = self.store.read(lambda cur: cur.execute(
            "SELECT m.event_pk, m.session_id, e.peer_id, m.embedding FROM message_embeddings m "
            "LEFT JOIN events e ON e.pk = m.event_pk WHERE m.workspace_id = ? AND m.model = ? "
            "AND m.seq > ? AND m.seq <= ? ORDER BY m.seq", [workspace_id, model, m.max_seq, upto_seq]).fetchnumpy())
        m.table_rows += len(cols["event_pk"])
        live = np.flatnonzero(np.asarray([p is not None for p in cols["peer_id"]], bool))
        if len(live):
            m.append(cols["event_pk"][live], cols["session_id"][live], cols["peer_id"][live],
                     _unit(np.stack(list(cols["embedding"][live]))))
        m.max_seq = max(m.max_seq, upto_seq)

    def _refresh(self, current: _Matrix | None, workspace_id: str, model: str) -> _Matrix:
        count, newest = self.store.read(lambda cur: one(cur.execute(
            "SELECT count(*), coalesce(max(seq), 0) FROM message_embeddings WHERE workspace_id = ? AND model = ?",
            [workspace_id, model])))
        if current is not None and (current.table_rows, current.max_seq) == (count, newest):
            return current
        if current is not None and current.table_rows < count and current.max_seq < newest:
            self._load(current, workspace_id, model, newest)
            if current.table_rows == count:
                if current.ivf is not None and current.count > 2 * current.ivf.built_count:
                    current.ivf = None
                return current
            log.info("message vectors of %s: rows were deleted as well as added; loading them all again", workspace_id)
        fresh = _empty()  # the first load, or rows were deleted: load everything
        self._load(fresh, workspace_id, model, newest)
        return fresh

    def _matrix(self, workspace_id: str, model: str) -> _Matrix:
        """The workspace's matrix, checked against the table at most every `refresh_seconds` and only
        when something was committed since the last check (a quiet store costs no query)."""
        key = (workspace_id, model)
        generation = self.store.feed.commits if hasattr(self.store, "feed") else -1
        current = self._cache.get(key)
        if current is not None and self._fresh(current, generation):
            return current
        if current is None:
            self._lock.acquire()
        elif not self._lock.acquire(blocking=False):
            # Another thread is refreshing: use the matrix as it is. Message embeddings arrive
            # asynchronously (the worker embeds new messages) and lexical search finds new
            # messages at once, so a vector side up to one refresh behind loses nothing users rely
            # on, while waiting here queued every search behind the refresh's queries.
            return current
        try:
            current = self._cache.get(key)
            if current is not None and self._fresh(current, generation):  # another thread just did it
                return current
            current = self._refresh(current, workspace_id, model)
            current.checked, current.generation = time.monotonic(), generation
            self._cache[key] = current
            return current
        finally:
            self._lock.release()

    def _fresh(self, m: _Matrix, generation: int) -> bool:
        return (m.generation == generation != -1) or time.monotonic() - m.checked < self.refresh_seconds

    def search(self, embedding: list[float] | np.ndarray, model: str, limit: int, workspace_id: str,
               session_id: str | None = None, peer_id: str | None = None) -> list[int]:
        """Message pks by cosine similarity to `embedding` (a float32 array is taken as unit length
        already), best first."""
        if isinstance(embedding, np.ndarray) and embedding.dtype == np.float32:
            query = embedding
        else:
            query = np.asarray(embedding, dtype=np.float32)
            query /= max(float(np.linalg.norm(query)), 1e-12)
        return self._matrix(workspace_id, model).search(query, limit, session_id, peer_id, self._lock)
