"""Dreams on request (`POST /v3/workspaces/{w}/schedule_dream`): consolidation of one observer's view of one peer.

Honcho's dream runs deduction and induction specialists, a tool-using model loop that a 1.5B local model
cannot drive reliably (DESIGN.md). honcho-local's dream does the consolidation that needs no such loop, at
once, and the request answers 204 when it is done (Honcho answers 204 once the dream is queued):

1. `omni` only: the deriver's output checks are re-applied to the pair's explicit conclusions
   (`services/recheck.py`, as `honcho-local recheck` does for a whole store): a conclusion that restates
   another speaker's line as the peer's is retired, and with it a deduction resting only on retired
   premises; relative time words ("yesterday") are rewritten as the date they meant. With `session_id`,
   only the conclusions stated in that session.
2. `omni` and `card_refresh`: the peer card is rebuilt from the pair's live conclusions
   (`peer_card.build_card`, the worker's card; `rebuild: true` leaves out the entries a user `PUT`, Honcho's
   "without injecting the existing card") and the profile is rewritten (one short model call; skipped,
   card kept, when no model answers).

Every dream is recorded (`dreams` table); `services/dream_trigger.py` runs the same dream without being asked
(Honcho's automatic trigger). Not done: new deductions or inductions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from honcho_local.config import Settings
from honcho_local.errors import BadRequest, HonchoLocalError, NotFound
from honcho_local.services import peer_card
from honcho_local.services.card_step import profile_facts, rebuilt_card
from honcho_local.services.recheck import RecheckResult, recheck_attribution
from honcho_local.services.versions import read_version
from honcho_local.store import Store, WriteContext, cards, dreams
from honcho_local.store import peers as peers_db
from honcho_local.store import sessions as sessions_db
from honcho_local.store import workspaces as workspaces_db

log = logging.getLogger(__name__)


class Dreams:
    def __init__(self, store: Store, settings: Settings, get_llm: Callable[[], Any]) -> None:
        self.store = store
        self.settings = settings
        self.get_llm = get_llm

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
        done.update(self._refresh_card(workspace_id, body.observer, observed, version, body.rebuild))
        self.store.write(lambda ctx: dreams.record_dream(ctx, workspace_id, body.observer, observed, version,
                                                         body.dream_type, trigger, done))
        log.info("dream %s (%s) for %s/%s/%s: %s", body.dream_type, trigger, workspace_id, body.observer, observed, done)
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
