"""The unit runner of one representation version: which units lag behind the log, and working a unit
(or a session's peers in lockstep) step by step until it has caught up. The steps are their own
collaborators: `RepresentationStep` (deriver), `CardStep` (peer card and profile) and `SummaryStep`
(message embeddings and summaries), over what they share (`UnitDeps`: the model-call policy, the cursor
book, the unit's resource rows, the embedder). Any exception a step raises becomes the unit's recorded
failure, and the unit waits its backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from honcho_local.config import Settings
from honcho_local.llm.base import LLM, Embedder
from honcho_local.services.activity import Activity
from honcho_local.services.card_step import CardStep
from honcho_local.services.model_calls import UnitFailed
from honcho_local.services.representation_step import RepresentationStep
from honcho_local.services.summary_step import SummaryStep
from honcho_local.services.unit_deps import Embeddings, UnitDeps
from honcho_local.services.unit_step import Step
from honcho_local.services.versions import VersionSpec
from honcho_local.store import Store, units
from honcho_local.store.units import UnitKey

__all__ = ["Reasoner", "UnitFailed"]


class Reasoner:
    def __init__(self, settings: Settings, store: Store, llm: LLM, version: str | VersionSpec,
                 embedder_factory: Callable[[], Embedder | None] | None = None,
                 activity: Activity | None = None) -> None:
        spec = version if isinstance(version, VersionSpec) else VersionSpec(version)
        self.deps = UnitDeps(settings, store, llm, spec, activity or Activity(), Embeddings(embedder_factory))
        self.cards = CardStep(self.deps)
        self.representation = RepresentationStep(self.deps, self.cards)
        self.summary = SummaryStep(self.deps)
        self.settings, self.store, self.llm, self.spec = settings, store, llm, spec
        self.version = spec.name
        self.activity = self.deps.activity  # where this version's unit steps and counts are reported
        self.calls = self.deps.calls  # the model-call policy: retries, backoff, run records
        self.advances = self.deps.advances  # skip advances waiting in memory

    def _guard(self, key: UnitKey, fn: Callable[[], Any]) -> Any:
        """Run one step of `key`'s work: an exception of any type becomes the unit's recorded failure."""
        try:
            return fn()
        except UnitFailed:
            raise
        except Exception as exc:  # recorded, then the unit backs off (services/model_calls.py)
            raise self.calls.crashed(key, exc) from exc

    def settle(self) -> None:
        """Write the advances waiting in memory and wait until they have landed (`PendingAdvances.settle`)."""
        self.advances.settle()

    def lagging(self, waiting: bool = False) -> list[str]:
        """Units behind the log that may run now (`waiting`: also failed ones in their backoff)."""
        self.settle()  # a unit whose advance is on its way to the store is not lagging
        keys = self.store.read(lambda cur: units.lagging_units(cur, self.version, waiting=waiting))
        if self.spec.workspace is not None:
            keys = [k for k in keys if UnitKey.parse(k).workspace_id == self.spec.workspace]
        return keys

    def process(self, key_text: str, retry_failed: bool = False) -> float:
        """Work a unit until it has caught up with the log. Returns the model seconds spent. A failed unit
        waits out its backoff (whatever woke it) unless `retry_failed` (`honcho-local reprocess`)."""
        key = UnitKey.parse(key_text)
        total = 0.0
        step_fn = self.representation.run if key.kind == "representation" else self.summary.run
        while True:  # a failure of any type is recorded and ends the run (`_guard`)
            step: Step = self._guard(key, partial(step_fn, key, retry_failed))
            total += step.model_seconds + (self._guard(key, step.cards) if step.cards else 0.0)
            if not step.more:
                return total

    def process_together(self, key_texts: list[str], retry_failed: bool = False) -> float:
        """Work the representation units of one session's peers in lockstep, one batch each in turn,
        until all have caught up. Their windows start at the same message, so each prompt after the
        first repeats the one before up to the question, and llama.cpp re-reads only the rest
        (docs/decisions/007-tuned-constants.md). Peer-card
        refreshes wait until each unit of the round has derived, so they do not break that prefix. A
        unit that fails leaves the round; the others go on, and the first failure is raised at the end."""
        active = [UnitKey.parse(k) for k in key_texts]
        total = 0.0
        failure: UnitFailed | None = None
        while active:
            cards = []
            for key in list(active):
                try:
                    step: Step = self._guard(key, partial(self.representation.run, key, retry_failed))
                except UnitFailed as exc:
                    failure = failure or exc
                    active.remove(key)
                    continue
                total += step.model_seconds
                if step.cards:
                    cards.append((key, step.cards))
                if not step.more:
                    active.remove(key)
            for key, refresh in cards:
                try:
                    total += self._guard(key, refresh)
                except UnitFailed as exc:
                    failure = failure or exc
                    if key in active:
                        active.remove(key)
        if failure is not None:
            raise failure
        return total
