"""Message and event lists (`POST …/sessions/{s}/messages/list`, `…/events/list`): pages of a session's log.

A message list without filters, the shape the SDK's `session.messages()` walks and agents ask for on
every turn, is answered from the in-memory copy of the log's message rows (`store/message_rows.py`):
the session's positions are a list in log order, so a page is a slice and its total a length, current
to the last commit, with no DuckDB query (the session's existence comes from the read cache). Before,
each list ran three DuckDB queries (the session, a count, the page): 7-20 ms of server time whatever
the page size. Lists with filters, and event lists (other kinds than messages are not in the copy),
read DuckDB in one transaction, so their total and page come from one snapshot too.
"""

from __future__ import annotations

import builtins  # `list` below is also a method name
from typing import Any

from honcho_local.errors import NotFound
from honcho_local.services import views
from honcho_local.services.readcache import MISS, ReadCache
from honcho_local.services.resources import Paging
from honcho_local.services.search import session_active, session_key
from honcho_local.store import Store
from honcho_local.store import events as event_log
from honcho_local.store.message_rows import MessageRows


class MessageList:
    def __init__(self, store: Store, cache: ReadCache, rows: MessageRows) -> None:
        self.store = store
        self.cache = cache
        self.rows = rows

    def list(self, workspace_id: str, session_id: str, filters: Any, paging: Paging,
             kinds: list[str] | None = None) -> dict[str, Any]:
        """A page of the session's messages (or events of `kinds`) with its total, as Honcho's list routes."""
        kinds = kinds or ["message"]
        in_memory = kinds == ["message"] and not filters
        rows, total = self.store.read(lambda cur: self._read(cur, workspace_id, session_id, filters, paging, kinds,
                                                             in_memory))
        shape = views.message if kinds == ["message"] else views.event
        return views.page([shape(r) for r in rows], total, paging.page, paging.size)

    def held_page(self, workspace_id: str, session_id: str, filters: Any, paging: Paging) -> dict[str, Any] | None:
        """The page `list` would give for a plain message list, when memory holds all of it (the session's
        existence in the read cache, the rows in the current copy of the log), else None: the caller
        then runs `list` in a thread (`api/deps.cache_first`)."""
        if filters:
            return None
        active = self.cache.peek(session_key(workspace_id, session_id))
        if active is MISS:
            return None
        if not active:
            raise NotFound(f"session {session_id!r} not found in workspace {workspace_id!r}")
        held = self.rows.held_page(workspace_id, session_id, (paging.page - 1) * paging.size, paging.size,
                                   paging.reverse)
        if held is None:
            return None
        rows, total = held
        return views.page([views.message(r) for r in rows], total, paging.page, paging.size)

    def _read(self, cur: Any, workspace_id: str, session_id: str, filters: Any, paging: Paging,
              kinds: builtins.list[str], in_memory: bool) -> tuple[builtins.list[event_log.Message], int]:
        if not session_active(self.cache, cur, workspace_id, session_id):
            raise NotFound(f"session {session_id!r} not found in workspace {workspace_id!r}")
        if in_memory:
            return self.rows.page(workspace_id, session_id, (paging.page - 1) * paging.size, paging.size,
                                  paging.reverse)
        return event_log.list_events(cur, workspace_id, session_id, filters, paging.page, paging.size,
                                     paging.reverse, kinds)
