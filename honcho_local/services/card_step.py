"""The peer-card step of a representation unit: after a batch that derived facts, each observer's card
is rebuilt from the live explicit conclusions (no model) once enough new ones have come, and the prose
profile is written beside it (one short model call, best effort)."""

from __future__ import annotations

from typing import Any

from honcho_local.llm.base import Completion
from honcho_local.services import activity as steps
from honcho_local.services import configuration, peer_card
from honcho_local.services.unit_deps import UnitDeps
from honcho_local.store import WriteContext, cards, units
from honcho_local.store import conclusions as conclusions_db
from honcho_local.store.sql import Cursor
from honcho_local.store.units import UnitKey

CARD_FACTS = 400  # live explicit conclusions, most reinforced first, a card is rebuilt from
PROFILE_FACTS = 8  # newest conclusions the profile call reads beside the card


def rebuilt_card(cur: Cursor, workspace_id: str, observer: str, observed: str, version: str,
                 keep_pinned: bool = True) -> list[str]:
    """The pair's card as the worker builds it (no model): from its live explicit conclusions, keeping
    the entries of the newest card a user wrote unless `keep_pinned` is False."""
    args = (cur, workspace_id, observer, observed, version)
    facts = conclusions_db.recent_conclusions(*args, limit=CARD_FACTS, level="explicit")
    return peer_card.build_card(observed, facts, cards.pinned_card(*args) if keep_pinned else [])


def profile_facts(cur: Cursor, workspace_id: str, observer: str, observed: str, version: str) -> list[str]:
    """The newest conclusions the profile call reads beside the card."""
    return conclusions_db.recent_conclusions(cur, workspace_id, observer, observed, version, limit=PROFILE_FACTS,
                                      newest_first=True)


class CardStep:
    def __init__(self, deps: UnitDeps) -> None:
        self.deps = deps

    def refresh_due(self, key: UnitKey, observers: list[str], ws_cfg: Any, s_cfg: Any) -> float:
        """Refresh the cards of `observers` that have gathered `peer_card_every` new conclusions (or
        have none yet). Returns the model seconds spent."""
        d = self.deps
        if not configuration.resolve(d.settings, ws_cfg, s_cfg).card_create:
            return 0.0
        seconds = 0.0
        observed = key.observed_id or ""
        for observer in observers:
            if not d.store.read(lambda cur: self._due(cur, key.workspace_id, observer, observed)):
                continue
            profile = self.refresh(key, observer, observed)
            seconds += profile.seconds if profile else 0.0
        return seconds

    def _due(self, cur: Cursor, workspace_id: str, observer: str, observed: str) -> bool:
        card = cards.latest_card(cur, workspace_id, observer, observed, self.deps.version)
        if card is None:
            return True
        since = card["created_at"] if card["source"] == "worker" else None
        fresh = conclusions_db.conclusions_since(cur, workspace_id, observer, observed, self.deps.version, since)
        return bool(fresh >= self.deps.settings.peer_card_every)

    def refresh(self, key: UnitKey, observer: str, observed: str) -> Completion | None:
        """Rebuild the card from the live explicit conclusions (no model), then write the profile
        (one short model call, best effort: a failure is recorded and the card is saved anyway).
        Returns the profile call's completion (None when it failed)."""
        d = self.deps
        d.activity.step(key, steps.PEER_CARD)

        def read(cur: Cursor) -> tuple[list[str], list[str]]:
            args = (cur, key.workspace_id, observer, observed, d.version)
            return rebuilt_card(*args), profile_facts(*args)

        entries, recent = d.store.read(read)
        done = d.call(key, "peer_profile", lambda: peer_card.write_profile(
            d.llm, observed, entries, recent, d.settings.model_context), fatal=False)
        profile, completion = done if done else ("", None)

        def op(ctx: WriteContext) -> None:
            cards.append_card(ctx, key.workspace_id, observer, observed, entries, d.version, source="worker")
            if profile:
                cards.insert_profile(ctx, key.workspace_id, observer, observed, profile, d.version)
                units.record_run(ctx, d.run_row(key, "peer_profile", "ok", completion, outputs=1))
            units.record_run(ctx, d.run_row(key, "peer_card", "ok" if entries else "empty", None,
                                            outputs=len(entries)))

        d.store.write(op, scoped=True)
        d.activity.add(key, cards=1)
        return completion
