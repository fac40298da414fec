"""Representations and peer cards: what an observer knows about an observed peer, read from the
representation store without a model call (a search query is embedded, cached, when given).

The working representation (Honcho v3 §5.1) mixes semantically relevant, most often derived and
most recent conclusions, rendered as markdown by level. honcho-local adds the worker's prose
profile of the peer as a leading `## Profile` section. Every read takes `as_of` (time travel) and
`version` (a representation version; default chosen by `services.versions.read_version`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from honcho_local.errors import InvalidInput, NotFound
from honcho_local.services.readcache import Read, ReadCache
from honcho_local.services.search import QueryEmbedder
from honcho_local.services.versions import cached_read_version, read_version
from honcho_local.store import Store, Tag, WriteContext, cards, peer_tag, ws_tag
from honcho_local.store import conclusions as conclusions_db
from honcho_local.store import peers as peers_db
from honcho_local.store import workspaces as workspaces_db
from honcho_local.store.conclusions import Conclusion
from honcho_local.store.filters import parse_datetime

HEADINGS = {"explicit": "Explicit Observations", "deductive": "Deductive Observations",
            "inductive": "Inductive Observations", "contradiction": "Contradictions"}
MAX_CARD_ENTRIES = 100
MAX_CARD_ENTRY_CHARS = 2_000


@dataclass(frozen=True)
class Recall:
    """How to pick conclusions for a representation (Honcho's representation/context parameters)."""

    search_query: str | None = None
    search_top_k: int | None = None
    search_max_distance: float | None = None
    include_most_frequent: bool = False
    max_conclusions: int = 25
    sessions: list[str] | None = None  # allowlist: explicit conclusions stated in these sessions only

    def key(self) -> tuple[Any, ...]:
        return (self.search_query, self.search_top_k, self.search_max_distance, self.include_most_frequent,
                self.max_conclusions, None if self.sessions is None else tuple(self.sessions))

    def __post_init__(self) -> None:
        if self.search_top_k is not None and not 1 <= self.search_top_k <= 100:
            raise InvalidInput("search_top_k must be between 1 and 100")
        if self.search_max_distance is not None and not 0.0 <= self.search_max_distance <= 1.0:
            raise InvalidInput("search_max_distance must be between 0 and 1")
        if not 1 <= self.max_conclusions <= 100:
            raise InvalidInput("max_conclusions must be between 1 and 100")


def parse_as_of(value: Any) -> datetime | None:
    return None if value is None or value == "" else parse_datetime(value, "as_of")


def said_at(c: Conclusion) -> datetime:
    """When a conclusion's facts were said: its newest source message's `created_at` (`observed_at`),
    else when it was stored. For a live conversation the two are seconds apart (Honcho stamps the
    conclusion's own creation); for an imported history with original timestamps only the first
    answers "when": a conclusion derived today about a message of May 2023 is stamped May 2023."""
    return c.observed_at or c.created_at


def render(conclusions: list[Conclusion], profile: str | None = None) -> str:
    """Markdown: `## Profile` (prose), then one section per level, oldest first; "" when empty."""
    parts: list[str] = []
    if profile and profile.strip():
        parts.append(f"## Profile\n{profile.strip()}")
    for level, heading in HEADINGS.items():
        rows = sorted((c for c in conclusions if c.level == level), key=lambda c: (said_at(c), c.id))
        if rows:
            lines = [f"[{said_at(c).strftime('%Y-%m-%d %H:%M:%S')}] {c.content}" for c in rows]
            parts.append(f"## {heading}\n" + "\n".join(lines))
    return "\n\n".join(parts)


class Representations:
    def __init__(self, store: Store, queries: QueryEmbedder, cache: ReadCache | None = None) -> None:
        self.store = store
        self.queries = queries
        self.cache = cache if cache is not None else ReadCache(store, size=0)

    def peer_exists(self, cur: Any, workspace_id: str, peer_id: str) -> bool:
        return self.cache.get(("peer", workspace_id, peer_id),
                              lambda: peers_db.get_peer(cur, workspace_id, peer_id) is not None, (ws_tag(workspace_id),))

    def pair(self, cur: Any, workspace_id: str, peer_id: str, target: str | None) -> tuple[str, str]:
        """(observer, observed): the path peer observes `target`, or itself. Unknown target → 404."""
        if target is not None and target != peer_id and not self.peer_exists(cur, workspace_id, target):
            raise NotFound(f"target peer {target!r} not found in workspace {workspace_id!r}")
        return peer_id, target or peer_id

    def conclusions(self, cur: Any, workspace_id: str, version: str, observer: str, observed: str,
                    recall: Recall, as_of: datetime | None) -> list[Conclusion]:
        """The working-representation pool: semantic, most frequent and recent parts, de-duplicated."""
        n = recall.max_conclusions
        semantic: list[Conclusion] = []
        if recall.search_query:
            k = recall.search_top_k or max(1, n // 3)
            vector = self.queries.embed(recall.search_query)
            if vector is not None:
                filters: dict[str, Any] = {"observer_id": observer, "observed_id": observed}
                if recall.sessions is not None:
                    filters.update(level="explicit", session_id={"in": recall.sessions})
                semantic = conclusions_db.query_conclusions(cur, workspace_id, version, vector, self.queries.model or "", k,
                                                   recall.search_max_distance, filters, as_of)
            frequent = n // 3 if recall.include_most_frequent else 0
        else:
            frequent = n // 2 if recall.include_most_frequent else 0
        recent = max(n - len(semantic) - frequent, 0)
        pool = conclusions_db.representation_pool(cur, workspace_id, version, observer, observed, recent, frequent,
                                         recall.sessions, as_of)
        by_id = {c.id: c for c in semantic}
        for c in sorted(pool, key=lambda c: c.created_at, reverse=True):
            by_id.setdefault(c.id, c)
        return list(by_id.values())[:n]

    def build(self, cur: Any, workspace_id: str, observer: str, observed: str, recall: Recall,
              as_of: datetime | None = None, version: str | None = None) -> tuple[str, list[Conclusion]]:
        """The markdown representation and the conclusions it was built from."""
        version = cached_read_version(self.cache, cur, workspace_id, observed, version)

        def compute() -> tuple[str, list[Conclusion]]:
            rows = self.conclusions(cur, workspace_id, version, observer, observed, recall, as_of)
            profile = None if recall.sessions is not None else cards.current_profile(
                cur, workspace_id, observer, observed, version, as_of)
            return render(rows, profile), rows

        return self.cache.get(("rep", workspace_id, observer, observed, recall.key(), as_of, version), compute,
                              (ws_tag(workspace_id), peer_tag(workspace_id, observed)))

    def _deps(self, workspace_id: str, peer_id: str, target: str | None) -> tuple[Tag, ...]:
        """What a read about `target` (or `peer_id` itself) depends on: the workspace's peers, versions
        and configuration, and the observed peer's conclusions, profile and card."""
        return ws_tag(workspace_id), peer_tag(workspace_id, target or peer_id)

    def representation_read(self, workspace_id: str, peer_id: str, target: str | None, recall: Recall,
                            as_of: Any = None, version: str | None = None) -> Read[dict[str, Any]]:
        moment = parse_as_of(as_of)

        def read(cur: Any) -> str:
            observer, observed = self.pair(cur, workspace_id, peer_id, target)
            return self.build(cur, workspace_id, observer, observed, recall, moment, version)[0]

        return Read(("representation", workspace_id, peer_id, target, recall.key(), moment, version),
                    lambda: {"representation": self.store.read(read)}, self._deps(workspace_id, peer_id, target))

    def representation(self, workspace_id: str, peer_id: str, target: str | None, recall: Recall,
                       as_of: Any = None, version: str | None = None) -> dict[str, Any]:
        return self.cache.answer(self.representation_read(workspace_id, peer_id, target, recall, as_of, version))

    def card_of(self, cur: Any, workspace_id: str, observer: str, observed: str, as_of: datetime | None,
                version: str | None) -> list[str] | None:
        version = cached_read_version(self.cache, cur, workspace_id, observed, version)
        return self.cache.get(("card", workspace_id, observer, observed, as_of, version),
                              lambda: cards.current_card(cur, workspace_id, observer, observed, version, as_of),
                              (ws_tag(workspace_id), peer_tag(workspace_id, observed)))

    def card_read(self, workspace_id: str, peer_id: str, target: str | None, as_of: Any = None,
                  version: str | None = None) -> Read[dict[str, Any]]:
        moment = parse_as_of(as_of)

        def read(cur: Any) -> list[str] | None:
            observer, observed = self.pair(cur, workspace_id, peer_id, target)
            return self.card_of(cur, workspace_id, observer, observed, moment, version)

        return Read(("peer_card", workspace_id, peer_id, target, moment, version),
                    lambda: {"peer_card": self.store.read(read)}, self._deps(workspace_id, peer_id, target))

    def get_card(self, workspace_id: str, peer_id: str, target: str | None, as_of: Any = None,
                 version: str | None = None) -> dict[str, Any]:
        return self.cache.answer(self.card_read(workspace_id, peer_id, target, as_of, version))

    def set_card(self, workspace_id: str, peer_id: str, target: str | None, entries: Any,
                 version: str | None = None) -> dict[str, Any]:
        cleaned = _clean_card(entries)

        def op(ctx: WriteContext) -> None:
            observer, observed = self.pair(ctx.conn, workspace_id, peer_id, target)
            workspaces_db.ensure_workspace(ctx, workspace_id)
            peers_db.ensure_peer(ctx, workspace_id, peer_id)
            chosen = read_version(ctx.conn, workspace_id, observed, version)
            cards.append_card(ctx, workspace_id, observer, observed, cleaned, chosen)

        self.store.write(op, scoped=True)
        return {"peer_card": cleaned}

    def peer_context_read(self, workspace_id: str, peer_id: str, target: str | None, recall: Recall,
                          as_of: Any = None, version: str | None = None) -> Read[dict[str, Any]]:
        moment = parse_as_of(as_of)

        def read(cur: Any) -> dict[str, Any]:
            observer, observed = self.pair(cur, workspace_id, peer_id, target)
            text, _ = self.build(cur, workspace_id, observer, observed, recall, moment, version)
            card = self.card_of(cur, workspace_id, observer, observed, moment, version)
            return {"peer_id": peer_id, "target_id": observed, "representation": text, "peer_card": card}

        return Read(("peer_context", workspace_id, peer_id, target, recall.key(), moment, version),
                    lambda: self.store.read(read), self._deps(workspace_id, peer_id, target))

    def peer_context(self, workspace_id: str, peer_id: str, target: str | None, recall: Recall,
                     as_of: Any = None, version: str | None = None) -> dict[str, Any]:
        return self.cache.answer(self.peer_context_read(workspace_id, peer_id, target, recall, as_of, version))


def _clean_card(entries: Any) -> list[str]:
    """A card as given by the API: strings, trimmed, de-duplicated case-insensitively, bounded."""
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise InvalidInput("peer_card must be a list of strings")
    if len(entries) > MAX_CARD_ENTRIES:
        raise InvalidInput(f"peer_card may have at most {MAX_CARD_ENTRIES} entries")
    seen: set[str] = set()
    cleaned = []
    for entry in entries:
        text = entry.replace("\x00", "").strip()
        if len(text) > MAX_CARD_ENTRY_CHARS:
            raise InvalidInput(f"peer_card entries may have at most {MAX_CARD_ENTRY_CHARS} characters")
        if text and text.lower() not in seen:
            seen.add(text.lower())
            cleaned.append(text)
    return cleaned
