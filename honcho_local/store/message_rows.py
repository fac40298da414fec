"""Message rows in memory, by log position, for search results and the recent messages of a session
context (no DuckDB round trip per search or context read).

The event log is append-only: a message row never changes after its commit, except through a
metadata update (`WriteContext.mark_updated`: the store keeps the positions of the newest updated
events, and the copy re-reads just those rows) or a session or workspace delete
(`WriteContext.mark_mutation`, which moves `ChangeFeed.mutations`: the copy is dropped and
reloaded). So the copy follows the log with delta loads (rows past the newest loaded log
position, loaded when a caller asks for a position past it; committed positions always form a
prefix since one writer appends them). Appends and derived writes (the worker's conclusions and
summaries) leave it valid. The store publishes the newest committed log position (`Store.log_end`),
so `recent` is current to the last commit without asking DuckDB (the rows past the copy are loaded
first). Memory: about 0.5 KB per message (measured: 49 MB for 100,000; the embeddings held for
vector search take 1.5 KB per message); the first search or context read loads it (1.2 s for 100,000). Each row keeps its `created_at` as the API's
ISO-8601 text too (`created_iso`, ~75 bytes): formatting it was most of a 50-message list's own time.
Reads build an `events.Message` per row (positionally: a 50-message page's service time went from
37-39 to 27-28 us in scripts/bench_stack.py), with its metadata and configuration decoded afresh; the
row's `seq` and `configuration` are kept for it (about 45 bytes more per message, estimated, not measured).
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

import msgspec

from honcho_local.store.db import Store
from honcho_local.store.events import Message

_decode = msgspec.json.decode  # metadata JSON text: 8x faster than json.loads on these small objects

_COLUMNS = ("pk", "id", "workspace_id", "session_id", "peer_id", "content", "metadata", "token_count",
            "created_at", "recorded_at", "seq", "configuration")
_SQL = f"SELECT {', '.join(_COLUMNS)} FROM events WHERE kind = 'message' AND pk > ? AND pk <= ? ORDER BY pk"
_SQL_PKS = f"SELECT {', '.join(_COLUMNS)} FROM events WHERE kind = 'message' AND pk IN (SELECT unnest(?::BIGINT[]))"


class _Copy:
    """The rows loaded for one value of the mutation counter."""

    def __init__(self, generation: int, updates_seen: int) -> None:
        self.generation = generation
        self.updates_seen = updates_seen                # ChangeFeed.event_updates applied so far
        self.rows: dict[int, tuple[Any, ...]] = {}
        self.sessions: dict[tuple[str, str], list[int]] = {}  # each session's message positions, ascending
        self.max_pk = 0
        self.loaded = False  # a reader has asked for it: commits keep it current from then on
        self.inactive: dict[str, frozenset[str]] = {}   # deleted (inactive) sessions per workspace


class MessageRows:
    """`get(pks)`: the messages (`events.Message`, with `created_iso`) in active sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._copy = _Copy(-1, 0)
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}   # one string object per workspace, session and peer id
        self.loads = 0

    def _current(self) -> _Copy:
        feed = self.store.feed
        generation = feed.mutations
        copy = self._copy
        if copy.generation != generation:
            with self._lock:
                if self._copy.generation != generation:
                    self._copy = _Copy(generation, feed.event_updates)
                copy = self._copy
        if copy.updates_seen != feed.event_updates:
            copy = self._apply_updates(copy)
        return copy

    def _apply_updates(self, copy: _Copy) -> _Copy:
        """Re-read the rows of the events updated in place since the copy last looked (or, when the
        store no longer holds all of those positions, start a new copy)."""
        with self._lock:
            seen = self.store.feed.event_updates  # read before the log (a later update is seen next time)
            updates = list(self.store.feed.updated_events)
            if self._copy is not copy:
                return self._copy
            if not updates or updates[0][0] > copy.updates_seen + 1:
                self._copy = _Copy(copy.generation, seen)
                return self._copy
            pks = [pk for seq, pk in updates if seq > copy.updates_seen and pk <= copy.max_pk]
            if pks:
                rows = self.store.read(lambda cur: cur.execute(_SQL_PKS, [pks]).fetchall())
                self._put(copy, rows)
            copy.updates_seen = seen
            return copy

    def _put(self, copy: _Copy, rows: list[tuple[Any, ...]]) -> None:
        name = self._names.setdefault
        texts: dict[Any, str] = {}  # a batch's messages share one created_at: formatted once (in the writer's callback)
        for pk, id_, ws, session, peer, content, metadata, tokens, created, recorded, seq, config in rows:
            ws, session = name(ws, ws), name(session, session)
            text = texts.get(created)
            if text is None:
                text = texts[created] = created.isoformat() + "Z"
            new = pk not in copy.rows  # rows arrive in log order (an update re-reads a row already placed)
            copy.rows[pk] = (id_, ws, session, name(peer, peer), content,
                             name(metadata, metadata) if len(metadata) <= 2 else metadata, tokens, created, recorded,
                             text, seq, config)
            if new:  # after its row: a reader without the lock never finds a position whose row is missing
                copy.sessions.setdefault((ws, session), []).append(pk)

    def _load(self, copy: _Copy, upto: int) -> None:
        """Load the rows past `copy.max_pk` up to the log's end (one query), unless another thread already did."""
        with self._lock:
            if copy.max_pk >= upto:
                return

            # The log's end first: every row up to it is committed, so the copy covers it exactly.
            end = max(self.store.log_end, upto)
            rows = self.store.read(lambda cur: cur.execute(_SQL, [copy.max_pk, end]).fetchall())
            self.loads += 1
            copy.loaded = True
            self._put(copy, rows)
            copy.max_pk = max(copy.max_pk, end)

    def appended(self, workspace_id: str, session_id: str, rows: list[dict[str, Any]]) -> None:
        """A commit listener (`Ingest.listeners`): the rows just committed join the copy without a
        query when they follow it directly (else the next read loads them from the log)."""
        if not rows:
            return
        with self._lock:
            copy = self._copy
            if (not copy.loaded or copy.max_pk != rows[0]["pk"] - 1
                    or copy.generation != self.store.feed.mutations):
                return
            encode = msgspec.json.encode
            self._put(copy, [(r["pk"], r["id"], r["workspace_id"], r["session_id"], r["peer_id"], r["content"],
                              encode(r["metadata"]), r["token_count"], r["created_at"], r["recorded_at"], r["seq"],
                              None if r["configuration"] is None else encode(r["configuration"]))
                             for r in rows if r["kind"] == "message"])
            copy.max_pk = rows[-1]["pk"]

    def _inactive(self, copy: _Copy, workspace_id: str) -> frozenset[str]:
        found = copy.inactive.get(workspace_id)
        if found is None:
            found = frozenset(r[0] for r in self.store.read(lambda cur: cur.execute(
                "SELECT id FROM sessions WHERE workspace_id = ? AND NOT is_active", [workspace_id]).fetchall()))
            copy.inactive[workspace_id] = found
        return found

    def recent(self, workspace_id: str, session_id: str, after_pk: int, budget: int) -> list[Message]:
        """The newest messages of a session after `after_pk` whose token counts add up to at most
        `budget`, oldest first (as `reads.recent_messages` without `as_of`): current to the last
        commit, read from memory once the copy holds the log's end."""
        copy = self._current()
        end = self.store.log_end
        if end > copy.max_pk:
            self._load(copy, end)
        chosen: list[int] = []
        total = 0
        for pk in reversed(copy.sessions.get((workspace_id, session_id), ())):
            tokens = copy.rows[pk][6]
            if pk <= after_pk or total + tokens > budget:
                break
            total += tokens
            chosen.append(pk)
        return [self._row(pk, copy.rows[pk]) for pk in reversed(chosen)]

    def page(self, workspace_id: str, session_id: str, offset: int, size: int,
             reverse: bool) -> tuple[list[Message], int]:
        """Up to `size` of a session's messages from `offset` in log order (newest first with `reverse`),
        and how many it has: current to the last commit, as `recent`. Both come from one moment of the
        copy: a commit landing meanwhile only appends past the positions counted, which the page leaves
        out (positions only grow, rows are placed before their position: no lock needed)."""
        copy = self._current()
        end = self.store.log_end
        if end > copy.max_pk:
            self._load(copy, end)
        return self._page(copy, workspace_id, session_id, offset, size, reverse)

    def held_page(self, workspace_id: str, session_id: str, offset: int, size: int,
                  reverse: bool) -> tuple[list[Message], int] | None:
        """`page` when the copy is current to the last commit as it stands (no query, no lock another
        thread may hold across one), else None."""
        feed = self.store.feed
        copy = self._copy
        if (not copy.loaded or copy.generation != feed.mutations or copy.updates_seen != feed.event_updates
                or self.store.log_end > copy.max_pk):
            return None
        return self._page(copy, workspace_id, session_id, offset, size, reverse)

    def _page(self, copy: _Copy, workspace_id: str, session_id: str, offset: int, size: int,
              reverse: bool) -> tuple[list[Message], int]:
        positions = copy.sessions.get((workspace_id, session_id), ())
        total = len(positions)
        if reverse:
            chosen = positions[max(total - offset - size, 0):max(total - offset, 0)][::-1]
        else:
            chosen = positions[offset:min(offset + size, total)]
        rows = copy.rows
        return [self._row(pk, rows[pk]) for pk in chosen], total

    def tail(self, after_pk: int, most: int) -> list[tuple[Any, ...]] | None:
        """The committed messages past `after_pk` as (pk, workspace, session, peer, content, created_at,
        previous), `previous` the (peer, content) of the message before it in its session or None;
        None when there are more than `most` of them. Lexical search scores these itself while its
        index has not caught up (`store/search.py`)."""
        copy = self._current()
        end = self.store.log_end
        if end > copy.max_pk:
            self._load(copy, end)
        with self._lock:  # rows are appended under it; iterate a stable dict
            pks: list[int] = []
            for pk in reversed(copy.rows):  # insertion order is log order
                if pk <= after_pk:
                    break
                if len(pks) == most:
                    return None
                pks.append(pk)
        out = []
        for pk in reversed(pks):
            row = copy.rows[pk]
            ws, session = row[1], row[2]
            positions = copy.sessions[(ws, session)]
            i = bisect.bisect_left(positions, pk)
            before = copy.rows[positions[i - 1]] if i > 0 else None
            out.append((pk, ws, session, row[3], row[4], row[7], (before[3], before[4]) if before else None))
        return out

    @staticmethod
    def _row(pk: int, row: tuple[Any, ...]) -> Message:
        id_, ws, session, peer, content, metadata, tokens, created, recorded, created_iso, seq, config = row
        return Message(pk, id_, ws, session, peer, "message", seq, content, _decode(metadata),
                       None if config is None else _decode(config), tokens, created, recorded, created_iso)

    def get(self, pks: list[int]) -> dict[int, Message]:
        """Rows of the messages among `pks` (not messages, deleted ones and inactive sessions left out)."""
        if not pks:
            return {}
        copy = self._current()
        upto = max(pks)
        if upto > copy.max_pk:
            # A position past the copy: load the log up to its end (a position the search indexes
            # still hold for a deleted message may lie past it; it is then simply not found).
            self._load(copy, upto)
        out: dict[int, Message] = {}
        inactive: dict[str, frozenset[str]] = {}
        for pk in pks:
            row = copy.rows.get(pk)
            if row is None:
                continue
            ws, session = row[1], row[2]
            gone = inactive.get(ws)
            if gone is None:
                gone = inactive[ws] = self._inactive(copy, ws)
            if session in gone:
                continue
            out[pk] = self._row(pk, row)
        return out
