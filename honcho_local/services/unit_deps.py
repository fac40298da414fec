"""What every reasoning step of one representation version shares: the settings, store and model, the
version's spec, the model-call policy (`ModelCalls`: retries, backoff, run records), the cursor book
(`PendingAdvances`: skip advances waiting in memory), the unit's resource rows and the embedder."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from honcho_local.config import Settings
from honcho_local.errors import HonchoLocalError
from honcho_local.llm.base import LLM, Completion, Embedder
from honcho_local.services.activity import Activity
from honcho_local.services.advances import PendingAdvances
from honcho_local.services.model_calls import ModelCalls, run_row
from honcho_local.services.readcache import ReadCache
from honcho_local.services.versions import VersionSpec
from honcho_local.store import Store, ws_tag
from honcho_local.store import peers as peers_db
from honcho_local.store import sessions as sessions_db
from honcho_local.store import workspaces as workspaces_db
from honcho_local.store.events import last_pk_before
from honcho_local.store.sql import Cursor
from honcho_local.store.units import UnitKey

log = logging.getLogger(__name__)


class Embeddings:
    """The embedder, made on first use; when it cannot be made, embeddings stay off (said once)."""

    def __init__(self, factory: Callable[[], Embedder | None] | None) -> None:
        self._factory = factory
        self._embedder: Embedder | None = None
        self._failed = False

    def embedder(self) -> Embedder | None:
        if self._embedder is None and not self._failed and self._factory is not None:
            try:
                self._embedder = self._factory()
            except HonchoLocalError as exc:
                self._failed = True
                log.warning("embeddings disabled: %s", exc.detail)
        return self._embedder

    def embed(self, texts: list[str]) -> tuple[list[list[float]] | None, str | None]:
        """Document vectors of `texts` and the model's name; (None, None) when embeddings are off or fail."""
        embedder = self.embedder()
        if embedder is None or not texts:
            return None, None
        try:
            return embedder.embed(texts, kind="document").vectors, embedder.model
        except HonchoLocalError as exc:
            log.warning("embedding failed: %s", exc.detail)
            return None, None


@dataclass
class UnitDeps:
    settings: Settings
    store: Store
    llm: LLM
    spec: VersionSpec
    activity: Activity
    embeddings: Embeddings
    calls: ModelCalls = field(init=False)
    advances: PendingAdvances = field(init=False)
    # the workspace, session, peer and member rows a unit reads each run, kept until a commit touches
    # the workspace's resources (`ws_tag`): under a stream of writes a unit runs every coalescing
    # window, and these four queries were most of a run that ends in a skip
    resources: ReadCache = field(init=False)

    def __post_init__(self) -> None:
        self.calls = ModelCalls(self.settings, self.store, self.activity, self.spec.name)
        self.advances = PendingAdvances(self.store)
        self.resources = ReadCache(self.store, size=4096)

    @property
    def version(self) -> str:
        return self.spec.name

    def call(self, key: UnitKey, task: str, fn: Callable[[], Any], fatal: bool = True) -> Any:
        """One model call with retries; a failure is recorded (`ModelCalls.call`)."""
        return self.calls.call(key, task, fn, fatal)

    def run_row(self, key: UnitKey, task: str, status: str, completion: Completion | None = None,
                **extra: Any) -> dict[str, Any]:
        return run_row(self.version, key, task, status, completion, **extra)

    def start_cursor(self, cur: Cursor, key: UnitKey, unit: dict[str, Any] | None) -> int:
        """A unit's cursor (or the advance on its way to the store, `PendingAdvances`); a new unit of a
        version with a `since` cut-off starts at that moment."""
        pending = self.advances.pending(key)
        if unit is not None:
            return max(unit["cursor_pk"], pending)
        if self.spec.since is None:
            return pending
        return max(pending, last_pk_before(cur, key.workspace_id, key.session_id, self.spec.since))

    def unit_resources(self, cur: Cursor, key: UnitKey) -> dict[str, Any]:
        """The unit's workspace, session, observed peer and active members (read-only: shared by runs)."""
        def read() -> dict[str, Any]:
            return {
                "workspace": workspaces_db.get_workspace(cur, key.workspace_id),
                "session": sessions_db.get_session(cur, key.workspace_id, key.session_id),
                "peer": peers_db.get_peer(cur, key.workspace_id, key.observed_id) if key.observed_id else None,
                "members": sessions_db.get_members(cur, key.workspace_id, key.session_id, active_only=True),
            }
        return self.resources.get((key.workspace_id, key.session_id, key.observed_id), read,
                                  [ws_tag(key.workspace_id)])
