"""Forgetting: deletes of a message, a peer, a session, a workspace or a conclusion that remove what was
deleted and everything derived from it, then take its bytes out of the database file.

One transaction per delete (`store/forget.py` holds the SQL): the rows go; conclusions whose sources are
all gone go (explicit ones with other sources keep those), and so do deductions resting on anything
gone; summaries that covered a deleted message go and the session's summary unit is reset, so the worker
writes them again from the messages left; each peer card built from a changed collection is rebuilt at
once from the conclusions left (no model: `peer_card.build_card`, a user's `PUT` entries kept) and its
old rows go, history included; profiles (model prose) go and come back at the worker's next card
refresh; stored model outputs and errors of the runs that may quote it are blanked. Then `scrub`
rewrites the touched tables and overwrites the file's free blocks, so the deleted text is not in the
file after the next checkpoint. Writes are unscoped, so every read cache is dropped. Before the scrub, a
delete waits for the worker's runs in flight on what it deleted and cleans up again (`_settle`).

Time travel does not bring anything back: these are hard deletes. Representation units keep their
cursors, so a deleted conclusion is never derived again from the messages it came from.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from honcho_local.errors import Conflict, NotFound
from honcho_local.services.activity import Activity
from honcho_local.services.card_step import rebuilt_card
from honcho_local.store import Store, WriteContext, cards, forget
from honcho_local.store import peers as peers_db
from honcho_local.store import sessions as sessions_db
from honcho_local.store import workspaces as workspaces_db
from honcho_local.store.events import get_event
from honcho_local.store.search import LexicalIndex

log = logging.getLogger(__name__)
SETTLE_SECONDS = 900  # the longest a delete waits for a worker run in flight on what it deleted


@dataclass
class _Gone:
    """What a delete leaves to settle: its cleanup again (`redo`), for a worker run in flight on the
    sessions (None: any of the workspace) or observed peers it touched."""

    redo: Callable[[WriteContext], Any]
    sessions: set[str] | None
    observed: set[str]
    messages: bool = True  # messages were deleted (the lexical index is rebuilt without them)

_SHARED: weakref.WeakKeyDictionary[Store, Forgetting] = weakref.WeakKeyDictionary()


class Forgetting:
    @classmethod
    def of(cls, store: Store) -> Forgetting:
        """The store's one `Forgetting` (its scrubs must not overlap: they share a fill table)."""
        found = _SHARED.get(store)
        if found is None:
            found = _SHARED[store] = cls(store)
        return found

    def __init__(self, store: Store, scrub_file: bool = True) -> None:
        self.store = store
        self.scrub_file = scrub_file
        self._lock = threading.Lock()
        self._requested = self._done = 0
        self._dirty: set[str] = set()
        self.activity: Activity | None = None  # the worker's running units (`wiring` sets it): see `_settle`
        self.lexical: LexicalIndex | None = None  # rebuilt without deleted messages (`wiring` sets it)

    # ---- the deletes ------------------------------------------------------------------------------
    def delete_message(self, workspace_id: str, session_id: str, message_id: str) -> None:
        def op(ctx: WriteContext) -> _Gone:
            if get_event(ctx.conn, workspace_id, session_id, message_id, kind=None) is None:
                raise NotFound(f"message {message_id!r} not found in session {session_id!r}")
            rows = forget.message_rows(ctx, workspace_id, session_id, message_id)
            pairs = self._forget_messages(ctx, workspace_id, rows)
            return _Gone(lambda c: self._forget_messages(c, workspace_id, rows, also=pairs), {session_id},
                         {p[1] for p in pairs})

        self._run(workspace_id, op)

    def delete_peer(self, workspace_id: str, peer_id: str) -> None:
        def op(ctx: WriteContext) -> _Gone:
            if peers_db.get_peer(ctx.conn, workspace_id, peer_id) is None:
                raise NotFound(f"peer {peer_id!r} not found in workspace {workspace_id!r}")
            rows = forget.message_rows(ctx, workspace_id, peer_id=peer_id)

            def clean(c: WriteContext, also: set[forget.Pair] | None = None) -> set[forget.Pair]:
                pairs = self._forget_messages(c, workspace_id, rows, [peer_id], also)
                forget.forget_peer_rows(c, workspace_id, peer_id)
                return pairs

            pairs = clean(ctx)
            return _Gone(lambda c: clean(c, pairs), {r[2] for r in rows}, {peer_id} | {p[1] for p in pairs})

        self._run(workspace_id, op)

    def delete_session(self, workspace_id: str, session_id: str) -> None:
        def op(ctx: WriteContext) -> _Gone:
            row = sessions_db.get_session(ctx.conn, workspace_id, session_id)
            if row is None or not row.is_active:
                raise NotFound(f"session {session_id!r} not found in workspace {workspace_id!r}")
            rows = forget.message_rows(ctx, workspace_id, session_id)

            def clean(c: WriteContext, also: set[forget.Pair] | None = None) -> set[forget.Pair]:
                pairs = self._forget_messages(c, workspace_id, rows, also=also)
                forget.forget_session_rows(c, workspace_id, session_id)
                return pairs

            pairs = clean(ctx)
            return _Gone(lambda c: clean(c, pairs), {session_id}, {p[1] for p in pairs})

        self._run(workspace_id, op)

    def delete_workspace(self, workspace_id: str) -> None:
        def op(ctx: WriteContext) -> _Gone:
            if workspaces_db.get_workspace(ctx.conn, workspace_id) is None:
                raise NotFound(f"workspace {workspace_id!r} not found")
            active = sessions_db.count_sessions(ctx.conn, workspace_id)
            if active:
                raise Conflict(f"workspace {workspace_id!r} still has {active} active session(s); delete them first")
            forget.forget_workspace_rows(ctx, workspace_id)
            return _Gone(lambda c: forget.forget_workspace_rows(c, workspace_id), None, set())

        self._run(workspace_id, op)

    def delete_conclusion(self, workspace_id: str, conclusion_id: str) -> None:
        def op(ctx: WriteContext) -> _Gone:
            if not forget.conclusion_exists(ctx, workspace_id, conclusion_id):
                raise NotFound(f"conclusion {conclusion_id!r} not found in workspace {workspace_id!r}")
            pairs = forget.delete_conclusions(ctx, workspace_id, [conclusion_id])
            self._after_conclusions(ctx, workspace_id, pairs, [])
            return _Gone(lambda c: self._after_conclusions(c, workspace_id, pairs, []), set(), {p[1] for p in pairs},
                         messages=False)

        self._run(workspace_id, op, forget.DERIVED_TABLES)

    # ---- what they share --------------------------------------------------------------------------
    def _forget_messages(self, ctx: WriteContext, workspace_id: str, rows: list[tuple[int, str, str]],
                         peers: list[str] | None = None, also: set[forget.Pair] | None = None) -> set[forget.Pair]:
        """Remove these events and what was derived from them (not the sessions or peers themselves); the
        cards of `also` are rebuilt too. Returns the collections changed."""
        first: dict[str, int] = {}
        for pk, _, session_id in rows:
            first[session_id] = min(pk, first.get(session_id, pk))
        forget.delete_events(ctx, [pk for pk, _, _ in rows])
        pairs = forget.forget_sources(ctx, workspace_id, [mid for _, mid, _ in rows]) | (also or set())
        for session_id, pk in first.items():
            forget.drop_summaries(ctx, workspace_id, session_id, pk)
        self._after_conclusions(ctx, workspace_id, pairs, sorted(first), peers or [])
        return pairs

    def _after_conclusions(self, ctx: WriteContext, workspace_id: str, pairs: set[forget.Pair],
                           sessions: list[str], peers: list[str] | None = None) -> None:
        """Rebuild the cards of the changed collections, drop their profiles, blank the run texts."""
        for pair in sorted(pairs):
            if cards.drop_pair_cards(ctx, workspace_id, pair):
                observer, observed, version = pair
                entries = rebuilt_card(ctx.conn, workspace_id, observer, observed, version)
                cards.append_card(ctx, workspace_id, observer, observed, entries, version, source="worker")
        observed_peers = sorted({p[1] for p in pairs} | set(peers or []))
        forget.clear_run_texts(ctx, workspace_id, sessions, observed_peers)

    def _run(self, workspace_id: str, op: Callable[[WriteContext], _Gone],
             tables: tuple[str, ...] = forget.FORGET_TABLES) -> None:
        """The delete in one unscoped write (every read cache drops), the worker's runs in flight settled,
        then the scrub of the tables it touched."""
        def marked(ctx: WriteContext) -> _Gone:
            forget.mark_scrub_pending(ctx)
            return op(ctx)

        gone = self.store.write(marked)
        self._settle(workspace_id, gone)
        if gone.messages and self.lexical is not None and not self.lexical.forget():
            log.warning("forgetting: the lexical index has not finished its rebuild yet")
        if self.scrub_file:
            try:
                self.scrub(list(tables))
            except Exception:  # the rows are gone already; the next delete's scrub covers the file
                log.exception("forgetting: the database file was not scrubbed")

    def _settle(self, workspace_id: str, gone: _Gone) -> None:
        """A worker run that read what was deleted before the delete committed writes after it (no
        transaction is held across a model call): a summary or a card may hold it. Wait for the runs in
        flight on it to end (`activity`), then clean up again."""
        activity = self.activity
        if activity is None:
            return

        def in_flight() -> set[str]:
            return {r["work_unit"] for r in activity.running() if r["workspace_id"] == workspace_id and (
                gone.sessions is None or r["session_id"] in gone.sessions or r["observed_id"] in gone.observed)}

        waiting = in_flight()
        if not waiting:
            return
        deadline = time.monotonic() + SETTLE_SECONDS
        while waiting & in_flight():
            if time.monotonic() > deadline:
                log.warning("forgetting: worker runs still in flight after %d s: %s", SETTLE_SECONDS, sorted(waiting))
                break
            time.sleep(0.05)
        self.store.write(gone.redo)

    def resume(self) -> None:
        """At start: finish the scrub a stopped process left pending (the deleted rows are gone already)."""
        if self.scrub_file and self.store.read(forget.scrub_pending):
            log.info("forgetting: scrubbing the database file (a delete's scrub did not finish)")
            self.scrub(list(forget.FORGET_TABLES))

    def scrub(self, tables: list[str]) -> None:
        """`forget.scrub` of these tables, one at a time: a delete that waited behind another's scrub is
        covered by the next one, which takes every table asked for meanwhile."""
        with self._lock:
            self._requested += 1
            wanted = self._requested
            self._dirty.update(tables)
        with self._lock:
            if self._done >= wanted:
                return
            batch, self._dirty = sorted(self._dirty), set()
            upto = self._requested
            forget.scrub(self.store, batch)
            self._done = upto
