"""Dreams without being asked (Honcho's automatic trigger): the worker's sweep calls `DreamTrigger.tick`, which
at most every `dream_check_seconds` looks for observer/peer pairs that

* hold at least `dream_min_conclusions` live explicit conclusions made since their last dream (asked for or
  automatic; every conclusion if they never dreamt),
* last dreamt at least `dream_min_hours` ago,
* in a workspace that has taken no message for `dream_idle_minutes` and has not turned dreams off
  (`dream.enabled: false` in its configuration),

and runs the `omni` dream of `services/dreams.py` on each (recorded with trigger "auto"). Honcho's defaults:
50 conclusions, 8 hours, 60 idle minutes. A dream that fails is logged and tried again at a later look, like
a unit: its pair stays due.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from honcho_local.config import Settings
from honcho_local.errors import HonchoLocalError
from honcho_local.services.dreams import DreamBody, Dreams
from honcho_local.services.versions import read_version
from honcho_local.store import Store, utcnow
from honcho_local.store import dreams as dream_log
from honcho_local.store import workspaces as workspaces_db

log = logging.getLogger(__name__)


def _dreams_on(configuration: dict[str, Any] | None) -> bool:
    """A workspace that exists (`configuration` not None) and has not set `dream.enabled: false`."""
    return configuration is not None and (configuration.get("dream") or {}).get("enabled") is not False


class DreamTrigger:
    def __init__(self, store: Store, settings: Settings, dreams: Dreams) -> None:
        self.store = store
        self.settings = settings
        self.dreams = dreams
        self._last_look = float("-inf")

    def tick(self) -> int:
        """The sweep's hook: the dreams asked for, then, if `dream_check_seconds` have passed, the due pairs';
        the number of dreams run."""
        asked = self.dreams.run_requests()
        if not self.settings.dream_auto or time.monotonic() - self._last_look < self.settings.dream_check_seconds:
            return asked
        self._last_look = time.monotonic()
        return asked + self.run_due()

    def due(self, now: datetime | None = None) -> list[tuple[str, DreamBody]]:
        """(workspace, DreamBody) of each pair due a dream at `now` (naive UTC, the store's clock)."""
        s = self.settings
        now = now or utcnow()

        def read(cur: Any) -> list[tuple[str, DreamBody]]:
            pairs = dream_log.due_pairs(cur, s.dream_min_conclusions, now - timedelta(hours=s.dream_min_hours))
            workspaces = sorted({p[0] for p in pairs})
            last = dream_log.last_message_at(cur, workspaces)
            idle_since = now - timedelta(minutes=s.dream_idle_minutes)
            # quiet workspaces that have not turned dreams off (each read once, however many pairs it holds)
            open_ = {w for w in workspaces if (last.get(w) is None or last[w] <= idle_since)
                     and _dreams_on(workspaces_db.workspace_configuration(cur, w))}
            return [(workspace_id, DreamBody(observer, observed))
                    for workspace_id, observer, observed, version, _ in pairs
                    if workspace_id in open_  # an inactive version's conclusions are not dreamt over
                    and version == read_version(cur, workspace_id, observed)]

        return self.store.read(read)

    def run_due(self, now: datetime | None = None) -> int:
        """Dream every due pair; the number dreamt."""
        done = 0
        for workspace_id, body in self.due(now):
            try:
                self.dreams.dream(workspace_id, body, trigger="auto")
                done += 1
            except HonchoLocalError as exc:  # e.g. the peer was deleted meanwhile: due again only if it is still there
                log.warning("automatic dream of %s/%s/%s failed: %s", workspace_id, body.observer, body.observed,
                            exc.detail)
        return done
