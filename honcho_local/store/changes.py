"""What the committed writes changed, as the in-memory indexes and read caches need to know it: the
newest committed log position (`log_end`), the tags each recent commit touched (`changes_since`, for the
read caches), the events changed in place (`updated_events`, for the message rows), a count of commits
that removed rows (`mutations`: copies built before one are dropped), and each session's newest message
position (`message_head`). The writer records every commit here (`record`) before its callers hear of it."""

from __future__ import annotations

import collections
import threading
from typing import Any

from honcho_local.store.writectx import Tag, WriteContext


class ChangeFeed:
    def __init__(self, log_end: int) -> None:
        self.log_end = log_end  # the newest committed log position (events.append reserves through ctx.counters)
        self.commits = 0
        self.mutations = 0  # committed groups that removed events, sessions or peers (not appends)
        self.event_updates = 0  # events changed in place; the newest of them in `updated_events` (seq, pk)
        self.updated_events: collections.deque[tuple[int, int]] = collections.deque(maxlen=10_000)
        # what each of the newest commits touched (WriteContext.touch), the last one = commit `commits`
        self.touched: collections.deque[frozenset[Tag] | None] = collections.deque(maxlen=4096)
        self._lock = threading.Lock()
        # (workspace, session) -> newest committed message position, for the sessions asked about or
        # appended to since the last mutation (`message_head`)
        self._heads: dict[tuple[str, str], int] = {}

    def record(self, ctx: WriteContext, unscoped: bool) -> None:
        """Take what a committed group did from its context (and reset those fields for the next group)."""
        heads, ctx.heads = ctx.heads, {}
        if ctx.mutated:
            ctx.mutated = False
            with self._lock:  # a delete may have taken a session's newest messages: ask again
                self.mutations += 1
                self._heads.clear()
        elif heads:
            with self._lock:
                for key, pk in heads.items():
                    if pk > self._heads.get(key, 0):
                        self._heads[key] = pk
        for pk in ctx.updated_events:
            self.updated_events.append((self.event_updates + 1, pk))
            self.event_updates += 1
        ctx.updated_events.clear()
        end = ctx.counters.get(("pk",))
        if end is not None and end > self.log_end:
            self.log_end = end
        touched, ctx.touched = (None if unscoped else ctx.touched), None
        with self._lock:
            self.touched.append(None if touched is None else frozenset(touched))
            self.commits += 1

    def reopened(self, log_end: int) -> None:
        """After the file was opened again: the log end it holds (never behind what was published)."""
        self.log_end = max(self.log_end, log_end)

    def changes_since(self, commit: int) -> tuple[int, frozenset[Tag] | None]:
        """(the newest commit, what the commits after `commit` touched); None when unknown or
        anything (a commit of an unscoped operation, or one older than the kept history)."""
        with self._lock:
            newest = self.commits
            count = newest - commit
            if count <= 0:
                return newest, frozenset()
            if count > len(self.touched):
                return newest, None
            tags: set[Tag] = set()
            for i in range(1, count + 1):
                touched = self.touched[-i]
                if touched is None:
                    return newest, None
                tags.update(touched)
        return newest, frozenset(tags)

    def message_head(self, cur: Any, workspace_id: str, session_id: str) -> int:
        """The log position of the session's newest committed message (0: none). Asked of DuckDB once per
        session (a scan of the whole log's session columns, which the worker made twice per unit run,
        one run per unit per coalescing window under a stream of writes), then kept current by the
        commits that append to it; a commit that deletes drops what was kept."""
        key = (workspace_id, session_id)
        known = self._heads.get(key)
        if known is not None:
            return known
        generation = self.mutations
        head = cur.execute("SELECT coalesce(max(pk), 0) FROM events WHERE workspace_id = ? AND session_id = ? "
                           "AND kind = 'message'", [workspace_id, session_id]).fetchone()[0]
        with self._lock:
            if self.mutations == generation:  # no delete since the query: `head` still holds
                head = self._heads[key] = max(head, self._heads.get(key, 0))
        return head
