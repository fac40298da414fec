"""Workspace chat (`POST /v3/workspaces/{w}/chat`, Honcho 3.2): the dialectic over a whole workspace.

Peer chat (`services/dialectic.py`) answers from one observer's view of one peer; this answers from
everything the workspace holds, with the same retrieve-then-answer design (one model call, no tool loop):

* the conclusions nearest the query across every observer/observed pair, explicit and derived apart (the
  newest ones when nothing is embedded), each shown to the model with the peer it is about;
* the peer cards of the peers those conclusions are about (at most `MAX_CARDS`);
* workspace message search (hybrid), one slot in five given to the conclusions' source messages, and with
  `session_id` the search is confined to that session and its recent messages are added.

The answer, the SSE stream and the evidence object are peer chat's (`Dialectic.answer` / `Dialectic.stream`).
The representation version is the workspace's (an A/B split by peer does not apply to a workspace read).
"""

from __future__ import annotations

from typing import Any

import msgspec

from honcho_local.errors import NotFound
from honcho_local.llm.base import ChatRequest
from honcho_local.services.chat_prompt import (
    Level,
    Prepared,
    build_evidence,
    check_schema,
    level_named,
)
from honcho_local.services.dialectic import Dialectic, session_history
from honcho_local.services.versions import cached_read_version
from honcho_local.store import conclusions as conclusions_db
from honcho_local.store import workspaces as workspaces_db
from honcho_local.store.conclusions import Conclusion

MAX_CARDS = 5
DERIVED = ["deductive", "inductive", "contradiction"]


class WorkspaceChat:
    def __init__(self, dialectic: Dialectic) -> None:
        self.dialectic = dialectic
        self.store = dialectic.store

    def prepare(self, workspace_id: str, body: Any, allow: list[str] | None = None) -> Prepared:
        """Validate, retrieve and build the model request (no model call; raises 4xx before any). `allow`: the
        sessions recall is confined to (a scope's members): conclusions drawn in them and their messages,
        and no peer card (a card is drawn from every session)."""
        level = level_named(body.reasoning_level)
        schema = check_schema(body.response_format)
        memory = self.store.read(lambda cur: self._retrieve(cur, workspace_id, body, level, allow))
        hits = self.dialectic.messages_for(workspace_id, body.query, body.session_id, memory["conclusions"],
                                           level.messages, level.messages, allow)
        about = {**memory, "conclusions": [msgspec.structs.replace(c, content=f"(about {c.observed_id}) {c.content}")
                                           for c in memory["conclusions"]]}
        who = f"the peers of workspace {workspace_id}"
        messages = self.dialectic.prompt(who, who, body.query, about, hits, level, schema)
        evidence = build_evidence(memory["conclusions"], hits + memory["history"])
        return Prepared(ChatRequest(messages=messages, max_tokens=level.max_tokens, schema=schema), evidence)

    def _retrieve(self, cur: Any, workspace_id: str, body: Any, level: Level,
                  allow: list[str] | None) -> dict[str, Any]:
        if workspaces_db.get_workspace(cur, workspace_id) is None:
            raise NotFound(f"workspace {workspace_id!r} not found")
        history = session_history(cur, workspace_id, body.session_id, level)
        version = cached_read_version(self.dialectic.representations.cache, cur, workspace_id)
        within = None if allow is None else {"session_id": {"in": allow}}
        conclusions = self._conclusions(cur, workspace_id, version, body.query, level, within)
        cards = None if allow is not None else self._cards(cur, workspace_id, conclusions)
        return {"conclusions": conclusions, "card": cards, "profile": None, "history": history}

    def _conclusions(self, cur: Any, workspace_id: str, version: str, query: str, level: Level,
                     within: dict[str, Any] | None) -> list[Conclusion]:
        queries = self.dialectic.representations.queries
        vector, model = queries.embed(query), queries.model
        found: list[Conclusion] = []
        if vector is not None and model:
            for levels in (["explicit"], DERIVED):
                found += conclusions_db.query_conclusions(cur, workspace_id, version, vector, model, level.conclusions, None,
                                                 {"level": levels, **(within or {})})
        if len(found) < level.conclusions:
            seen = {c.id for c in found}
            newest, _ = conclusions_db.list_conclusions(cur, workspace_id, version, within, 1, level.conclusions, False)
            found += [c for c in newest if c.id not in seen]
        return found

    def _cards(self, cur: Any, workspace_id: str, conclusions: list[Conclusion]) -> list[str] | None:
        """The peer cards (a peer's own view of itself) of the peers the conclusions are about, each entry
        prefixed with its peer."""
        entries: list[str] = []
        peers = list(dict.fromkeys(c.observed_id for c in conclusions))[:MAX_CARDS]
        for peer in peers:
            card = self.dialectic.representations.card_of(cur, workspace_id, peer, peer, None, None)
            entries += [f"{peer}: {entry}" for entry in card or []]
        return entries or None
