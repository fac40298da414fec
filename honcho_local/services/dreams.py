"""Dreams on request (`POST /v3/workspaces/{w}/schedule_dream`): consolidation of one observer's view of one peer.

Honcho's dream runs deduction and induction specialists, a tool-using model loop that a 1.5B local model
cannot drive reliably (DESIGN.md). honcho-local's dream does the consolidation that needs no such loop, at
once, and the request answers 204 when it is done (Honcho answers 204 once the dream is queued):

1. `omni` only: the deriver's output checks are re-applied to the pair's explicit conclusions
   (`services/recheck.py`, as `honcho-local recheck` does for a whole store): a conclusion that restates
   another speaker's line as the peer's is retired, and with it a deduction resting only on retired
   premises; relative time words ("yesterday") are rewritten as the date they meant. With `session_id`,
   only the conclusions stated in that session.
2. `omni` only, when `dream_max_decisions` is above 0: knowledge updates and, with `dream_inductions`,
   inductions (`services/consolidation.py`): an older conclusion that a newer one makes untrue (one named
   slot, two values: `services/slots.py`) is retired as superseded, with a deductive conclusion recording
   the change, and groups of similar conclusions yield an inductive conclusion when the model names a
   pattern they all support; both kinds cite their premises. Needs the embedder (skipped without one).
3. `omni` and `card_refresh`: the peer card is rebuilt from the pair's live conclusions
   (`peer_card.build_card`, the worker's card; `rebuild: true` leaves out the entries a user `PUT`, Honcho's
   "without injecting the existing card") and the profile is rewritten (one short model call; skipped,
   card kept, when no model answers).

Every dream is recorded (`dreams` table); `services/dream_trigger.py` runs the same dream without being asked
(Honcho's automatic trigger).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from honcho_local.config import Settings
from honcho_local.errors import BadRequest, HonchoLocalError, NotFound
from honcho_local.services import peer_card
from honcho_local.services.card_step import profile_facts, rebuilt_card
from honcho_local.services.consolidation import Consolidation, Outcome
from honcho_local.services.recheck import RecheckResult, recheck_attribution
from honcho_local.services.unit_deps import Embeddings
from honcho_local.services.versions import read_version
from honcho_local.store import Store, WriteContext, cards, dreams
from honcho_local.store import conclusions as conclusions_db
from honcho_local.store import peers as peers_db
from honcho_local.store import sessions as sessions_db
from honcho_local.store import workspaces as workspaces_db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DreamBody:
    """A dream to run: Honcho's `schedule_dream` fields, as `Dreams.dream` reads them."""
    observer: str
    observed: str | None = None
    dream_type: str = "omni"
    session_id: str | None = None
    rebuild: bool = False


class Dreams:
    def __init__(self, store: Store, settings: Settings, get_llm: Callable[[], Any],
                 embeddings: Embeddings | None = None) -> None:
        self.store = store
        self.settings = settings
        self.get_llm = get_llm
        self.embeddings = embeddings
        self.wake: Callable[[], None] | None = None  # the worker's, when one runs the dreams asked for

    def schedule(self, workspace_id: str, body: Any) -> None:
        """`schedule_dream`: the request is checked (404, 400) and stored, and the worker woken to run it
        (`run_requests`), as Honcho queues it; the same pair and type asked again while waiting is a no-op.
        Without a worker the dream runs at once."""
        if self.wake is None:
            self.dream(workspace_id, body)
            return
        observed = body.observed or body.observer
        self.store.read(lambda cur: self._check(cur, workspace_id, body.observer, observed, body.session_id))
        self.store.write(lambda ctx: dreams.request_dream(ctx, workspace_id, body.observer, observed, body.dream_type,
                                                          body.session_id, body.rebuild))
        self.wake()

    def run_requests(self) -> int:
        """Run the dreams asked for, oldest first; the number run. A request is deleted once its dream ran,
        or failed for a reason the request itself carries (logged); on any other error it stays, for the
        next sweep."""
        done = 0
        for workspace_id, observer, observed, dream_type, session_id, rebuild in self.store.read(
                dreams.pending_requests):
            body = DreamBody(observer, observed, dream_type, session_id, rebuild)
            try:
                self.dream(workspace_id, body)
                done += 1
            except HonchoLocalError as exc:  # the pair or workspace went away, or dreams were turned off meanwhile
                log.warning("dream of %s/%s/%s not run: %s", workspace_id, observer, observed, exc.detail)
            self.store.write(lambda ctx: dreams.finish_request(ctx, workspace_id, observer, observed, dream_type))
        return done

    def dream(self, workspace_id: str, body: Any, trigger: str = "request") -> dict[str, Any]:
        """Run the dream and record it (`trigger`: "request", or "auto" from `services/dream_trigger.py`);
        returns what it did (logged; the route answers 204 like Honcho)."""
        observed = body.observed or body.observer
        version = self.store.read(lambda cur: self._check(cur, workspace_id, body.observer, observed, body.session_id))
        done: dict[str, Any] = {"retired": 0, "redated": 0}
        if body.dream_type == "omni":
            result: RecheckResult = recheck_attribution(self.store, version, workspace_id,
                                                        pair=(body.observer, observed), session_id=body.session_id)
            done.update(retired=len(result.flagged) + len(result.deductions), redated=len(result.dated))
            done.update(self._consolidate(workspace_id, body.observer, observed, version, body.session_id))
        done.update(self._refresh_card(workspace_id, body.observer, observed, version, body.rebuild))
        self.store.write(lambda ctx: dreams.record_dream(ctx, workspace_id, body.observer, observed, version,
                                                         body.dream_type, trigger, done))
        counts = {k: v for k, v in done.items() if not isinstance(v, list)}  # the decisions are in the record
        log.info("dream %s (%s) for %s/%s/%s: %s", body.dream_type, trigger, workspace_id, body.observer, observed,
                 counts)
        return done

    def _check(self, cur: Any, workspace_id: str, observer: str, observed: str, session_id: str | None) -> str:
        """404s for what does not exist, 400 when the workspace turned dreams off; the version to dream in."""
        workspace = workspaces_db.get_workspace(cur, workspace_id)
        if workspace is None:
            raise NotFound(f"workspace {workspace_id!r} not found")
        for peer in dict.fromkeys((observer, observed)):
            if peers_db.get_peer(cur, workspace_id, peer) is None:
                raise NotFound(f"peer {peer!r} not found in workspace {workspace_id!r}")
        if session_id is not None:
            row = sessions_db.get_session(cur, workspace_id, session_id)
            if row is None or not row.is_active:
                raise NotFound(f"session {session_id!r} not found in workspace {workspace_id!r}")
        if ((workspace.configuration or {}).get("dream") or {}).get("enabled") is False:
            raise BadRequest(f"dreams are disabled in workspace {workspace_id!r}'s configuration (dream.enabled)")
        return read_version(cur, workspace_id, observed)

    def _consolidate(self, workspace_id: str, observer: str, observed: str, version: str,
                     session_id: str | None) -> dict[str, Any]:
        """Knowledge updates and inductions over the pair's live conclusions (those stated in `session_id`
        when given); what was decided, or why nothing was."""
        if self.settings.dream_max_decisions == 0:
            return {"consolidation": "off"}
        embedder = self.embeddings.embedder() if self.embeddings is not None else None
        if embedder is None:
            return {"consolidation": "skipped: no embedder"}

        def read(cur: Any) -> tuple[list[conclusions_db.Conclusion], list[list[float]], set[str]]:
            items, vectors = conclusions_db.collection_vectors(cur, workspace_id, version, embedder.model, observer,
                                                               observed)
            keep = [i for i, c in enumerate(items) if session_id is None or c.session_id == session_id]
            return ([items[i] for i in keep], [vectors[i] for i in keep],
                    conclusions_db.induction_premises(cur, workspace_id, observer, observed, version))

        items, vectors, inducted = self.store.read(read)
        try:
            llm = self.get_llm()
        except HonchoLocalError as exc:
            return {"consolidation": f"skipped: {exc.detail}"}
        consolidation = Consolidation(llm, self.settings.dream_max_decisions, self.settings.dream_inductions)
        out = consolidation.run(observed, items, vectors, inducted)
        self._write_consolidation(workspace_id, version, out)
        return out.summary()

    def _write_consolidation(self, workspace_id: str, version: str, out: Outcome) -> None:
        """Store what the model decided, as far as its premises are still live (a delete may have come
        between the read and the write)."""
        if not out.superseded and not out.new:
            return
        assert self.embeddings is not None
        vectors, model = self.embeddings.embed([c.content for c in out.new])
        for c, vector in zip(out.new, vectors or []):
            c.embedding, c.embedding_model = vector, model

        def op(ctx: WriteContext) -> None:
            live = conclusions_db.live_ids(ctx, workspace_id, [p for c in out.new for p in c.premise_ids])
            for older, newer in out.superseded:
                conclusions_db.supersede(ctx, workspace_id, older, newer)
            fresh = [c for c in out.new if all(p in live for p in c.premise_ids)]
            conclusions_db.insert_conclusions(ctx, fresh, version)

        self.store.write(op, scoped=True)

    def _refresh_card(self, workspace_id: str, observer: str, observed: str, version: str,
                      rebuild: bool) -> dict[str, Any]:
        def read(cur: Any) -> tuple[list[str], list[str], dict[str, Any] | None]:
            args = (cur, workspace_id, observer, observed, version)
            return rebuilt_card(*args, keep_pinned=not rebuild), profile_facts(*args), cards.latest_card(*args)

        entries, recent, card = self.store.read(read)
        if not entries and not recent:  # nothing known about the pair: no empty card, no model call
            return {"card_entries": 0, "card_changed": False, "profile": False}
        changed = card["entries"] != entries if card is not None else bool(entries)
        try:
            profile, _ = peer_card.write_profile(self.get_llm(), observed, entries, recent, self.settings.model_context)
        except HonchoLocalError as exc:  # no model, or nothing usable: the card is kept all the same
            log.warning("dream: profile of %s/%s not rewritten: %s", observer, observed, exc.detail)
            profile = ""

        def op(ctx: WriteContext) -> None:
            if changed:
                cards.append_card(ctx, workspace_id, observer, observed, entries, version, source="worker")
            if profile:
                cards.insert_profile(ctx, workspace_id, observer, observed, profile, version)

        self.store.write(op, scoped=True)
        return {"card_entries": len(entries), "card_changed": changed, "profile": bool(profile)}
