"""Session context (`GET …/sessions/{s}/context`) and session summaries, read from the store.

Budget (Honcho v3 §5.2): the representation and peer card of `peer_target` (when given) come off
`tokens` first; then the best-fitting summary within 40% of what is left (the long one if it fits
and is longer than the short one, else the short one if it fits); then the most recent messages after
the summary that fit the rest, returned oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from honcho_local.errors import InvalidInput, NotFound
from honcho_local.services import views
from honcho_local.services.readcache import Read
from honcho_local.services.representation import Recall, Representations, parse_as_of
from honcho_local.services.search import session_active
from honcho_local.services.tokens import TokenCounter, estimate_tokens
from honcho_local.services.versions import cached_read_version
from honcho_local.store import Store, log_tag, peer_tag, summaries_tag, ws_tag
from honcho_local.store import events as event_log
from honcho_local.store import summaries as summaries_db
from honcho_local.store.message_rows import MessageRows

SUMMARY_SHARE = 0.4


@dataclass(frozen=True)
class ContextRequest:
    tokens: int | None = None
    summary: bool = True
    peer_target: str | None = None
    peer_perspective: str | None = None
    limit_to_session: bool = False
    recall: Recall = Recall(max_conclusions=100)
    as_of: Any = None
    version: str | None = None


def summary_view(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"content": row["content"], "message_id": row["message_id"], "summary_type": row["summary_type"],
            "created_at": views.iso(row["created_at"]), "token_count": row["token_count"]}


def pick_summary(summaries: dict[str, dict[str, Any]], budget: int) -> dict[str, Any] | None:
    long, short = summaries.get("long"), summaries.get("short")
    if long and long["token_count"] <= budget and (not short or long["token_count"] > short["token_count"]):
        return long
    if short and short["token_count"] <= budget:
        return short
    return None


class SessionContext:
    def __init__(self, store: Store, representations: Representations, max_tokens: int,
                 count_tokens: TokenCounter = estimate_tokens, rows: MessageRows | None = None) -> None:
        self.store = store
        self.rows = rows if rows is not None else MessageRows(store)
        self.representations = representations
        self.max_tokens = max_tokens
        self.count_tokens = count_tokens

    def _check(self, req: ContextRequest) -> int:
        tokens = self.max_tokens if req.tokens is None else req.tokens
        if not 1 <= tokens <= self.max_tokens:
            raise InvalidInput(f"tokens must be between 1 and {self.max_tokens}")
        if req.peer_perspective is not None and req.peer_target is None:
            raise InvalidInput("peer_perspective requires peer_target")
        if req.recall.search_query and req.peer_target is None:
            raise InvalidInput("search_query requires peer_target")
        return tokens

    def context_read(self, workspace_id: str, session_id: str, req: ContextRequest) -> Read[dict[str, Any]]:
        tokens = self._check(req)
        moment = parse_as_of(req.as_of)
        deps = [ws_tag(workspace_id), log_tag(workspace_id, session_id), summaries_tag(workspace_id, session_id)]
        if req.peer_target is not None:
            deps.append(peer_tag(workspace_id, req.peer_target))
        return Read(("context", workspace_id, session_id, tokens, req.summary, req.peer_target, req.peer_perspective,
                     req.limit_to_session, req.recall.key(), moment, req.version),
                    lambda: self.store.read(lambda cur: self._read(cur, workspace_id, session_id, req, tokens, moment)),
                    tuple(deps))

    def context(self, workspace_id: str, session_id: str, req: ContextRequest) -> dict[str, Any]:
        return self.representations.cache.answer(self.context_read(workspace_id, session_id, req))

    def _read(self, cur: Any, workspace_id: str, session_id: str, req: ContextRequest, tokens: int,
              moment: datetime | None) -> dict[str, Any]:
        self._require_session(cur, workspace_id, session_id)
        cache = self.representations.cache
        representation = card = None
        target = req.peer_target
        if target is not None:
            representation, card, used = cache.get(
                ("target", workspace_id, session_id, target, req.peer_perspective, req.limit_to_session,
                 req.recall.key(), moment, req.version),
                lambda: self._target(cur, workspace_id, session_id, target, req, moment),
                (ws_tag(workspace_id), peer_tag(workspace_id, target)))
            tokens -= used
        tokens = max(tokens, 0)
        summary = None
        if req.summary:
            version = cached_read_version(cache, cur, workspace_id, None, req.version)
            summaries = cache.get(("summaries", workspace_id, session_id, version, moment),
                                  lambda: summaries_db.current_summaries(cur, workspace_id, session_id, version, moment),
                                  (ws_tag(workspace_id), summaries_tag(workspace_id, session_id)))
            summary = pick_summary(summaries, int(tokens * SUMMARY_SHARE))
        after = summary["last_event_pk"] if summary else 0
        left = tokens - (summary["token_count"] if summary else 0)
        messages = cache.get(("recent", workspace_id, session_id, after, left, moment), lambda: [
            views.message(m) for m in (self.rows.recent(workspace_id, session_id, after, left) if moment is None
                                       else event_log.recent_messages(cur, workspace_id, session_id, after, left, moment))],
            (ws_tag(workspace_id), log_tag(workspace_id, session_id)))
        return {"id": session_id, "messages": messages,
                "summary": summary_view(summary), "peer_representation": representation or None,
                "peer_card": card}

    def _target(self, cur: Any, workspace_id: str, session_id: str, target: str, req: ContextRequest,
                moment: datetime | None) -> tuple[str, list[str] | None, int]:
        """The target's (`req.peer_target`) representation and card, and the tokens they take."""
        observer = req.peer_perspective or target
        for peer in {observer, target}:
            if not self.representations.peer_exists(cur, workspace_id, peer):
                raise NotFound(f"peer {peer!r} not found in workspace {workspace_id!r}")
        recall = req.recall
        if req.limit_to_session:
            recall = Recall(recall.search_query, recall.search_top_k, recall.search_max_distance,
                            recall.include_most_frequent, recall.max_conclusions, [session_id])
        text, _ = self.representations.build(cur, workspace_id, observer, target, recall, moment, req.version)
        card = None if recall.sessions is not None else self.representations.card_of(
            cur, workspace_id, observer, target, moment, req.version)
        return text, card, self.count_tokens(text or "") + self.count_tokens("\n".join(card or []))

    def summaries(self, workspace_id: str, session_id: str, as_of: Any = None,
                  version: str | None = None) -> dict[str, Any]:
        moment = parse_as_of(as_of)

        def read(cur: Any) -> dict[str, Any]:
            self._require_session(cur, workspace_id, session_id)
            chosen = cached_read_version(self.representations.cache, cur, workspace_id, None, version)
            rows = summaries_db.current_summaries(cur, workspace_id, session_id, chosen, moment)
            return {"id": session_id, "short_summary": summary_view(rows.get("short")),
                    "long_summary": summary_view(rows.get("long"))}

        return self.store.read(read)


    def _require_session(self, cur: Any, workspace_id: str, session_id: str) -> None:
        if not session_active(self.representations.cache, cur, workspace_id, session_id):
            raise NotFound(f"session {session_id!r} not found in workspace {workspace_id!r}")

