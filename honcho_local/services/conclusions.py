"""Conclusions over the API: create (explicit, embedded, de-duplicated), list (newest first), semantic
query, get by id, delete (hard, with what rests on it: `services/forgetting.py`). Each conclusion shows Honcho's
attribution (`source_ids`: premises, `times_derived`) and the messages it was drawn from (`message_ids`).
"""

from __future__ import annotations

import builtins  # `list` below is also a method name
import json
from typing import Any

import msgspec
import numpy as np

from honcho_local.errors import InvalidInput, NotFound
from honcho_local.services import views
from honcho_local.services.forgetting import Forgetting
from honcho_local.services.readcache import Read, ReadCache
from honcho_local.services.representation import parse_as_of
from honcho_local.services.resources import Paging
from honcho_local.services.search import QueryEmbedder
from honcho_local.services.versions import cached_read_version, read_version
from honcho_local.store import Store, WriteContext, peer_tag, ws_tag
from honcho_local.store import conclusions as conclusions_db
from honcho_local.store import events as event_log
from honcho_local.store import peers as peers_db
from honcho_local.store import sessions as sessions_db
from honcho_local.store import workspaces as workspaces_db
from honcho_local.store.conclusions import LEVELS, Conclusion, NewConclusion, insert_conclusions

MAX_CONTENT = 65_535


def conclusion_view(row: Conclusion) -> dict[str, Any]:
    """Honcho's conclusion: `source_ids` are the conclusions this one was derived from (its premises; null
    when none, as for every explicit conclusion), `times_derived` how often it was derived. `message_ids`
    (honcho-local extension) are the messages it was drawn from."""
    return {"id": row.id, "content": row.content, "observer_id": row.observer_id,
            "observed_id": row.observed_id, "session_id": row.session_id, "level": row.level,
            "created_at": views.iso(row.created_at), "source_ids": row.premise_ids or None,
            "times_derived": row.times_derived, "message_ids": row.source_ids}


def _superseded_by(row: Conclusion) -> str | None:
    """The newer conclusion a dream found this one replaced by (`services/consolidation.py`), if any."""
    return (row.metadata or {}).get("superseded_by")


def _premise_view(row: Conclusion) -> dict[str, Any]:
    later = _superseded_by(row)
    return {**conclusion_view(row), "superseded_by": later} if later else conclusion_view(row)


def _check_levels(filters: Any) -> None:
    """`level` is validated against the enum wherever it appears in a filter tree."""
    if isinstance(filters, list):
        for item in filters:
            _check_levels(item)
    if not isinstance(filters, dict):
        return
    for key, value in filters.items():
        if key == "level":
            values = value if isinstance(value, list) else (value.get("in", []) if isinstance(value, dict) else [value])
            for v in values if isinstance(values, list) else [values]:
                if v not in LEVELS and v not in ("*", None):
                    raise InvalidInput(f"level must be one of {', '.join(LEVELS)}; got {v!r}")
        elif key in ("AND", "OR", "NOT"):
            _check_levels(value)


def _pair_from(filters: Any) -> tuple[str, str]:
    if not isinstance(filters, dict):
        raise InvalidInput("filters must be an object naming observer_id and observed_id")
    observer = filters.get("observer_id", filters.get("observer"))
    observed = filters.get("observed_id", filters.get("observed"))
    if not isinstance(observer, str) or not isinstance(observed, str):
        raise InvalidInput("conclusion queries need filters.observer_id and filters.observed_id (peer ids)")
    return observer, observed


PAIR_KEYS = {"observer_id", "observer", "observed_id", "observed"}


class Conclusions:
    def __init__(self, store: Store, queries: QueryEmbedder, cache: ReadCache | None = None,
                 forgetting: Forgetting | None = None) -> None:
        self.store = store
        self.forgetting = forgetting or Forgetting.of(store)
        self.queries = queries
        self.cache = cache if cache is not None else ReadCache(store, size=0)

    def _matrix(self, cur: Any, workspace_id: str, version: str, model: str, observer: str,
                observed: str) -> tuple[list[Conclusion], np.ndarray]:
        """A collection's conclusions and their unit embeddings as one matrix (cached until a commit)."""
        def compute() -> tuple[list[Conclusion], np.ndarray]:
            rows, embeddings = conclusions_db.collection_vectors(cur, workspace_id, version, model, observer, observed)
            if not rows:  # a pair with no conclusions: reshape(0, -1) raised (issue 31: a 500)
                return rows, np.zeros((0, 1), dtype=np.float32)
            matrix = np.asarray(embeddings, dtype=np.float32).reshape(len(rows), -1)
            matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
            return rows, matrix

        return self.cache.get(("cmatrix", workspace_id, version, model, observer, observed), compute,
                              (ws_tag(workspace_id), peer_tag(workspace_id, observed)))

    def nearest(self, cur: Any, workspace_id: str, version: str, vector: list[float], model: str, top_k: int,
                distance: float | None, observer: str, observed: str) -> builtins.list[Conclusion]:
        """Exact cosine top-k within one collection, from the in-memory matrix."""
        rows, matrix = self._matrix(cur, workspace_id, version, model, observer, observed)
        if not rows:
            return []
        q = np.asarray(vector, dtype=np.float32)
        distances = 1.0 - matrix @ (q / max(float(np.linalg.norm(q)), 1e-12))
        order = np.argsort(distances, kind="stable")[:top_k]
        return [msgspec.structs.replace(rows[i], distance=float(distances[i])) for i in order
                if distance is None or distances[i] <= distance]

    def create(self, workspace_id: str, items: Any, version: str | None = None) -> list[dict[str, Any]]:
        if not isinstance(items, list) or not 1 <= len(items) <= 100:
            raise InvalidInput("conclusions must be a list of 1 to 100 items")
        for i, item in enumerate(items):
            if not 1 <= len(item.content.strip()) <= MAX_CONTENT:
                raise InvalidInput(f"conclusions[{i}].content must have 1 to {MAX_CONTENT} characters")
        vectors = self.queries.embed_many([c.content for c in items])
        model = self.queries.model if vectors else None

        def op(ctx: WriteContext) -> list[str]:
            workspaces_db.ensure_workspace(ctx, workspace_id)
            for item in items:
                peers_db.ensure_peer(ctx, workspace_id, item.observer_id)
                peers_db.ensure_peer(ctx, workspace_id, item.observed_id)
                if item.session_id is not None:
                    row = sessions_db.get_session(ctx.conn, workspace_id, item.session_id)
                    if row is None or not row.is_active:
                        raise NotFound(f"session {item.session_id!r} not found in workspace {workspace_id!r}")
            new = [NewConclusion(workspace_id, c.observer_id, c.observed_id, c.content, "explicit", c.session_id,
                                 vectors[i] if vectors else None, model) for i, c in enumerate(items)]
            chosen = read_version(ctx.conn, workspace_id, items[0].observed_id, version)
            return [s.id for s in insert_conclusions(ctx, new, chosen)]

        ids = self.store.write(op, scoped=True)
        rows = {r.id: r for r in self.store.read(lambda cur: conclusions_db.get_conclusions(cur, workspace_id, ids))}
        return [conclusion_view(rows[i]) for i in ids]

    def list(self, workspace_id: str, filters: Any, paging: Paging, version: str | None = None,
             as_of: Any = None) -> dict[str, Any]:
        _check_levels(filters)
        moment = parse_as_of(as_of)

        def read(cur: Any) -> tuple[builtins.list[Conclusion], int]:
            chosen = cached_read_version(self.cache, cur, workspace_id, None, version)
            return conclusions_db.list_conclusions(cur, workspace_id, chosen, filters, paging.page, paging.size,
                                                   paging.reverse, moment)

        rows, total = self.store.read(read)
        return views.page([conclusion_view(r) for r in rows], total, paging.page, paging.size)

    def query(self, workspace_id: str, query: Any, top_k: Any = 10, distance: Any = None, filters: Any = None,
              version: str | None = None) -> builtins.list[dict[str, Any]]:
        return self.cache.answer(self.query_read(workspace_id, query, top_k, distance, filters, version))

    def query_read(self, workspace_id: str, query: Any, top_k: Any = 10, distance: Any = None, filters: Any = None,
                   version: str | None = None) -> Read[builtins.list[dict[str, Any]]]:
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("query must be a non-empty string")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 100:
            raise InvalidInput("top_k must be an integer between 1 and 100")
        if distance is not None and (isinstance(distance, bool) or not isinstance(distance, (int, float))
                                     or not 0 <= distance <= 1):
            raise InvalidInput("distance must be a number between 0 and 1")
        observer, observed = _pair_from(filters)
        _check_levels(filters)

        def read(cur: Any) -> builtins.list[Conclusion]:
            vector, model = self.queries.require(query)
            chosen = cached_read_version(self.cache, cur, workspace_id, observed, version)
            if set(filters) <= PAIR_KEYS and self.cache.size > 0:  # the matrix pays off only when kept
                return self.nearest(cur, workspace_id, chosen, vector, model, top_k, distance, observer, observed)
            return conclusions_db.query_conclusions(cur, workspace_id, chosen, vector, model, top_k, distance, filters)

        key = ("conclusion_query", workspace_id, query, top_k, distance, json.dumps(filters, sort_keys=True), version)
        return Read(key, lambda: [conclusion_view(r) for r in self.store.read(read)],
                    (ws_tag(workspace_id), peer_tag(workspace_id, observed)))

    def get(self, workspace_id: str, conclusion_id: str) -> dict[str, Any]:
        row = self.store.read(lambda cur: conclusions_db.get_conclusion(cur, workspace_id, conclusion_id))
        if row is None:
            raise NotFound(f"conclusion {conclusion_id!r} not found in workspace {workspace_id!r}")
        return conclusion_view(row)

    def sources(self, workspace_id: str, conclusion_id: str) -> dict[str, Any]:
        """Provenance (a honcho-local extension): the conclusion with its version, the messages it was drawn
        from and the conclusions it rests on (premises). Ids whose rows are gone (forgotten, or in a
        deleted session) are listed under `missing_source_ids` / `missing_premise_ids`; a premise a dream
        retired as superseded is listed with `superseded_by`, the conclusion that replaced it."""
        def read(cur: Any) -> tuple[Conclusion | None, dict[str, event_log.Message], builtins.list[Conclusion]]:
            row = conclusions_db.get_conclusion(cur, workspace_id, conclusion_id)
            if row is None:
                return None, {}, []
            messages = event_log.messages_by_id(cur, workspace_id, list(row.source_ids or []))
            premises = conclusions_db.get_conclusions(cur, workspace_id, list(row.premise_ids or []))
            return row, messages, [p for p in premises if p.deleted_at is None or _superseded_by(p)]

        row, messages, premises = self.store.read(read)
        if row is None:
            raise NotFound(f"conclusion {conclusion_id!r} not found in workspace {workspace_id!r}")
        found = {p.id for p in premises}
        return {"conclusion": {**conclusion_view(row), "version": row.version},
                "messages": [views.message(messages[i]) for i in row.source_ids or [] if i in messages],
                "premises": [_premise_view(p) for p in premises],
                "missing_source_ids": [i for i in row.source_ids or [] if i not in messages],
                "missing_premise_ids": [i for i in row.premise_ids or [] if i not in found]}

    def delete(self, workspace_id: str, conclusion_id: str) -> None:
        """Hard delete: gone for `as_of` reads too; deductions resting on it go, its card is rebuilt."""
        self.forgetting.delete_conclusion(workspace_id, conclusion_id)
