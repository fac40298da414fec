"""Composition: the only place that builds settings → store → llm → services → worker."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from honcho_local.config import Settings
from honcho_local.llm import build_embedder, build_llm
from honcho_local.llm.base import LLM
from honcho_local.services import queue_status, versions
from honcho_local.services.ingest import Ingest
from honcho_local.services.reasoner import Reasoner
from honcho_local.services.resources import Resources
from honcho_local.services.tokens import TokenCounter, estimate_tokens
from honcho_local.store import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    resources: Resources
    ingest: Ingest
    llm: LLM | None = None
    reasoner: Reasoner | None = None
    worker: Any = None
    version: str = versions.DEFAULT_VERSION
    extras: dict[str, Any] = field(default_factory=dict)

    def queue_status(self, workspace_id: str, observer_id: str | None = None, sender_id: str | None = None,
                     session_id: str | None = None) -> dict[str, Any]:
        running = self.worker.running() if self.worker is not None else set()
        return queue_status.queue_status(self.store, self.version, running, workspace_id, observer_id, sender_id,
                                         session_id)

    def queue_status_all(self) -> dict[str, Any]:
        """Totals over every workspace (for the CLI)."""
        totals: dict[str, Any] = {"completed_work_units": 0, "pending_work_units": 0, "failed_work_units": 0,
                                  "errors": []}
        for (workspace_id,) in self.store.read(lambda cur: cur.execute("SELECT id FROM workspaces").fetchall()):
            status = self.queue_status(workspace_id)
            for k in ("completed_work_units", "pending_work_units", "failed_work_units"):
                totals[k] += status[k]
            totals["errors"] += status["errors"]
        return totals

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        if self.llm is not None:
            # Closing waits for the model lock; a generation still running in a worker thread must not
            # hold shutdown past its deadline (the process is exiting; the OS reclaims the model).
            closer = threading.Thread(target=self.llm.close, name="llm-close", daemon=True)
            closer.start()
            closer.join(timeout=1.0)
        self.store.close()


def build_services(settings: Settings, count_tokens: TokenCounter = estimate_tokens, with_worker: bool = False,
                   llm: LLM | None = None, embedder_factory: Any = None) -> Services:
    """Everything `serve` needs. Models load lazily, on the first call that needs them."""
    store = Store.open(settings.db_path, batch_max=settings.write_batch_max, fsync=settings.durability == "full")
    resources = Resources(store)
    ingest = Ingest(store, resources, settings.max_message_size, count_tokens)
    version = versions.ensure_version(store, settings)
    llm = llm or build_llm(settings)
    embedder_factory = _shared(embedder_factory or (lambda: build_embedder(settings)))
    reasoners = [_reasoner(settings, store, llm, spec, embedder_factory)
                 for spec in store.read(versions.active_versions)]
    default = next(r for r in reasoners if r.version == version)
    services = Services(settings=settings, store=store, resources=resources, ingest=ingest, llm=llm,
                        reasoner=default, version=version)
    if with_worker:
        from honcho_local.worker import Worker

        services.worker = Worker([default, *[r for r in reasoners if r is not default]], settings.home,
                                 settings.worker_concurrency, settings.worker_poll_interval)
        ingest.listeners.append(services.worker.notify_messages)
    return services


def _shared(factory: Any) -> Any:
    """One embedder for every reasoner, built on first use."""
    made: list[Any] = []

    def get() -> Any:
        if not made:
            made.append(factory())
        return made[0]

    return get


def _reasoner(settings: Settings, store: Store, llm: LLM, spec: versions.VersionSpec, embedder_factory: Any) -> Reasoner:
    """The reasoner of one version: its own chat model when the version overrides it."""
    if spec.reasoning_model and spec.reasoning_model != settings.reasoning_model:
        llm = build_llm(settings.model_copy(update={"reasoning_model": spec.reasoning_model}))
    return Reasoner(settings, store, llm, spec, embedder_factory)
