"""Hybrid message search (workspace, session, peer): BM25 (tantivy) and cosine over message
embeddings, fused with weighted reciprocal rank fusion (k = `RRF_K`; BM25 weighted as the embedding model's
catalog entry says, `QueryEmbedder.lexical_weight`), then filtered by the message filter DSL.

Messages the worker has not embedded yet are still found by the lexical side; without an embedding
model the search is lexical only. Query embeddings are cached (agents repeat their queries).
"""

from __future__ import annotations

import logging
import operator
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from honcho_local.errors import InvalidInput, ModelUnavailable, NotFound
from honcho_local.llm.base import LEXICAL_WEIGHT
from honcho_local.services import views
from honcho_local.services.readcache import ReadCache
from honcho_local.store import Store, ws_tag
from honcho_local.store import events as event_log
from honcho_local.store import peers as peers_db
from honcho_local.store import sessions as sessions_db
from honcho_local.store.events import MESSAGE_COLUMNS
from honcho_local.store.filters import compile_filters
from honcho_local.store.message_rows import MessageRows
from honcho_local.store.search import LexicalIndex, MessageVectors

# Reciprocal rank fusion of BM25 and vectors (docs/decisions/007-tuned-constants.md); BM25's weight is the
# embedding model's (`QueryEmbedder.lexical_weight`).
RRF_K = 20
log = logging.getLogger(__name__)


class QueryEmbedder:
    """Embeds query texts with the configured embedder (loaded on first use), with an LRU cache."""

    def __init__(self, get_embedder: Callable[[], Any], size: int = 2048) -> None:
        self._get = get_embedder
        self._cache: OrderedDict[str, tuple[list[float], np.ndarray]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def embedder(self) -> Any:
        """The embedding model (raises `ModelUnavailable` when there is none)."""
        return self._get()

    @property
    def model(self) -> str | None:
        embedder = self._try_get()
        return None if embedder is None else embedder.model

    @property
    def lexical_weight(self) -> float:
        """BM25's weight against the vectors in the fusion: the embedding model's own, else `LEXICAL_WEIGHT`."""
        return float(getattr(self._try_get(), "lexical_weight", LEXICAL_WEIGHT))

    def _try_get(self) -> Any:
        try:
            return self._get()
        except ModelUnavailable:
            return None

    def _entry(self, text: str) -> tuple[list[float], np.ndarray] | None:
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        embedder = self._try_get()
        if embedder is None:
            return None
        vector = list(embedder.embed([text], kind="query").vectors[0])
        unit = np.asarray(vector, dtype=np.float32)
        unit /= max(float(np.linalg.norm(unit)), 1e-12)
        entry = (vector, unit)
        with self._lock:
            self._cache[text] = entry
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return entry

    def embed(self, text: str) -> list[float] | None:
        """The query vector, or None when no embedding model is available."""
        entry = self._entry(text)
        return None if entry is None else entry[0]

    def embed_unit(self, text: str) -> np.ndarray | None:
        """The query vector as a unit-length float32 array (what the in-memory vector search takes)."""
        entry = self._entry(text)
        return None if entry is None else entry[1]

    def embed_many(self, texts: list[str]) -> list[list[float]] | None:
        """Vectors for texts to be stored (embedded as documents, not queries), or None without a model."""
        embedder = self._try_get()
        return None if embedder is None or not texts else [list(v) for v in embedder.embed(texts).vectors]

    def require(self, text: str) -> tuple[list[float], str]:
        vector = self.embed(text)
        if vector is None:
            raise ModelUnavailable(
                "no embedding model is available for a semantic query; set `embedding_model` "
                "(HONCHO_LOCAL_EMBEDDING_MODEL, default all-minilm-l6-v2) and fetch it with "
                "`honcho-local models pull all-minilm-l6-v2`")
        return vector, self.model or ""


_SCORE_THEN_ITEM = operator.itemgetter(1, 0)


def rrf(rankings: list[list[int]], k: int = RRF_K, weights: list[float] | None = None) -> list[int]:
    """Weighted reciprocal rank fusion of ranked id lists (best first)."""
    scores: dict[int, float] = {}
    for i, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[i]
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank + 1)
    # best score first, ties by the newer message (higher position)
    return [item for item, _ in sorted(scores.items(), key=_SCORE_THEN_ITEM, reverse=True)]


class Search:
    def __init__(self, store: Store, lexical: LexicalIndex, vectors: MessageVectors, queries: QueryEmbedder,
                 cache: ReadCache | None = None, rows: MessageRows | None = None) -> None:
        self.store = store
        self.lexical = lexical
        self.vectors = vectors
        self.queries = queries
        self.cache = cache if cache is not None else ReadCache(store, size=0)
        self.rows = rows if rows is not None else MessageRows(store)
        self._known: tuple[int, set[tuple[str, ...]]] = (-1, set())

    def _rows(self, pks: list[int], filters: Any) -> dict[int, event_log.Message]:
        """Candidate messages in active sessions that pass `filters` (without filters: from the
        in-memory copy of the log's message rows)."""
        if filters is not None:
            where, params = compile_filters(filters, MESSAGE_COLUMNS)
            return self.store.read(lambda cur: event_log.messages_by_pk(cur, pks, where, params))
        return self.rows.get(pks)

    def ranked(self, workspace_id: str, query: str, limit: int, filters: Any = None,
               session_id: str | None = None, peer_id: str | None = None) -> list[event_log.Message]:
        """Messages best first; used by the routes and the dialectic."""
        if filters is not None:
            compile_filters(filters, MESSAGE_COLUMNS)  # a bad filter is a 422 before any work
        depth = max(2 * limit, 20) if filters is None else max(4 * limit, 40)
        rankings = [self.lexical.search(query, depth, workspace_id, session_id, peer_id)]
        vector = self.queries.embed_unit(query)
        model = self.queries.model
        if vector is not None and model:
            rankings.append(self.vectors.search(vector, model, depth, workspace_id, session_id, peer_id))
        fused = rrf(rankings, weights=[self.queries.lexical_weight, 1.0][:len(rankings)])
        if filters is not None:
            rows = self._rows(fused, filters)
            return [rows[pk] for pk in fused if pk in rows][:limit]
        out: list[event_log.Message] = []
        for start in range(0, len(fused), limit + 5):  # rows for the best first; more only if some drop out
            chunk = fused[start:start + limit + 5]
            rows = self._rows(chunk, None)
            out += [rows[pk] for pk in chunk if pk in rows]
            if len(out) >= limit:
                break
        return out[:limit]

    def search(self, workspace_id: str, query: Any, filters: Any = None, limit: Any = 10,
               session_id: str | None = None, peer_id: str | None = None) -> list[dict[str, Any]]:
        """The search routes: validate, check the scope exists, rank, shape as Messages."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("query must be a non-empty string")
        if len(query) > 10_000:
            raise InvalidInput("query may have at most 10000 characters")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidInput("limit must be an integer between 1 and 100")
        if filters is not None and not isinstance(filters, dict):
            raise InvalidInput("filters must be an object")
        self._check_scope(workspace_id, session_id, peer_id)
        rows = self.ranked(workspace_id, query, limit, filters, session_id, peer_id)
        return [views.message(r) for r in rows]

    def _check_scope(self, workspace_id: str, session_id: str | None, peer_id: str | None) -> None:
        """404 for a missing session or peer; a scope seen since the last mutation costs no query."""
        if session_id is not None and not self._exists(("session", workspace_id, session_id), lambda: (
                self.store.read(lambda cur: session_active(self.cache, cur, workspace_id, session_id)))):
            raise NotFound(f"session {session_id!r} not found in workspace {workspace_id!r}")
        if peer_id is not None and not self._exists(("peer", workspace_id, peer_id), lambda: self.cache.get(
                ("peer", workspace_id, peer_id),
                lambda: self.store.read(lambda cur: peers_db.get_peer(cur, workspace_id, peer_id)) is not None,
                (ws_tag(workspace_id),))):
            raise NotFound(f"peer {peer_id!r} not found in workspace {workspace_id!r}")

    def _exists(self, key: tuple[str, ...], check: Callable[[], bool]) -> bool:
        """`check()`, remembering a True until the next mutation: a session or peer that exists
        stops existing only by a delete, which is a mutation (`ChangeFeed.mutations`)."""
        generation = self.store.feed.mutations
        known_generation, known = self._known
        if known_generation == generation and key in known:
            return True
        if known_generation != generation:
            known = set()
            self._known = (generation, known)
        found = check()
        if found and self.store.feed.mutations == generation:
            if len(known) >= 100_000:
                known.clear()
            known.add(key)
        return found


def session_key(workspace_id: str, session_id: str) -> tuple[str, str, str]:
    """The read-cache key of `session_active`."""
    return ("session", workspace_id, session_id)


def session_active(cache: ReadCache, cur: Any, workspace_id: str, session_id: str) -> bool:
    """Whether the session exists and is not deleted (cached until a write changes the workspace)."""
    def compute() -> bool:
        row = sessions_db.get_session(cur, workspace_id, session_id)
        return row is not None and row.is_active

    return cache.get(session_key(workspace_id, session_id), compute, (ws_tag(workspace_id),))
