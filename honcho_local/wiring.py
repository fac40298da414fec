"""Composition: the only place that builds settings → store → models → services → worker."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from honcho_local import metrics
from honcho_local.config import Settings
from honcho_local.errors import HonchoLocalError, ModelUnavailable
from honcho_local.llm.base import ChatRequest, Completion
from honcho_local.runtime import limit_native_threads
from honcho_local.services import queue_status, status, versions
from honcho_local.services.activity import Activity
from honcho_local.services.conclusions import Conclusions
from honcho_local.services.context import SessionContext
from honcho_local.services.dialectic import Dialectic
from honcho_local.services.dream_trigger import DreamTrigger
from honcho_local.services.dreams import Dreams
from honcho_local.services.forgetting import Forgetting
from honcho_local.services.ingest import Ingest
from honcho_local.services.message_list import MessageList
from honcho_local.services.readcache import ReadCache
from honcho_local.services.reasoner import Reasoner
from honcho_local.services.representation import Representations
from honcho_local.services.resources import Resources
from honcho_local.services.scopes import Scopes
from honcho_local.services.search import QueryEmbedder, Search
from honcho_local.services.tokens import TokenCounter, estimate_tokens
from honcho_local.services.unit_deps import Embeddings
from honcho_local.store import Store
from honcho_local.store.message_rows import MessageRows
from honcho_local.store.search import LexicalIndex, MessageVectors

log = logging.getLogger(__name__)


class Models:
    """The chat model and the embedder, each built on first use (the server starts without them).

    A chat model that cannot be loaded raises `ModelUnavailable` (HTTP 503) on every use; an
    embedder that cannot be loaded makes semantic reads fall back to lexical/recency ones."""

    def __init__(self, settings: Settings, llm: Any = None, embedder: Any = None) -> None:
        self.settings = settings
        self._llm, self._embedder = llm, embedder
        self._query_embedder = embedder  # an embedder handed in serves both roles
        self._tokenizer: Any = None  # the chat model's vocabulary alone (`count_tokens`)
        self._errors: dict[str, HonchoLocalError] = {}
        self._lock = threading.Lock()

    def _build(self, role: str, make: Any) -> Any:
        built = getattr(self, f"_{role}")
        if built is not None:  # without the lock: another role may be loading under it for seconds
            return built
        if role in self._errors:  # known to be unavailable: say so at once (a lexical-only search stays fast)
            raise self._errors[role]
        with self._lock:
            current = getattr(self, f"_{role}")
            if current is not None:
                return current
            if role in self._errors:
                raise self._errors[role]
            try:
                built = make()
            except HonchoLocalError as exc:
                log.warning("%s model unavailable: %s", role, exc.detail)
                self._errors[role] = ModelUnavailable(exc.detail)
                raise self._errors[role] from exc
            setattr(self, f"_{role}", built)
            return built

    def llm(self) -> Any:
        from honcho_local.llm import Router, build_fallback, build_llm, build_local_chat, fallback_configured

        def make() -> Any:
            if self.settings.reasoning_model.startswith("openai:"):
                return build_llm(self.settings)
            fallback = (lambda: build_fallback(self.settings)) if fallback_configured(self.settings) else None
            try:
                return Router(build_local_chat(self.settings), fallback)
            except HonchoLocalError:
                if fallback is None:
                    raise
                return Router(None, fallback)

        return self._build("llm", make)

    def count_tokens(self, text: str) -> int:
        """The chat model's own token count, without loading the model for it (issue 31: counting loaded
        the 1.5B model, RSS 0.3 -> 2.4 GB): the loaded model's tokenizer, else its vocabulary alone; where
        there is no local vocabulary (an `openai:` model, a missing file), as the chat model counts."""
        if self._llm is None and not self.settings.reasoning_model.startswith("openai:"):
            try:
                return self.tokenizer().count_tokens(text)
            except HonchoLocalError:
                pass
        return self.llm().count_tokens(text)

    def tokenizer(self) -> Any:
        from honcho_local.llm import build_local_tokenizer

        return self._build("tokenizer", lambda: build_local_tokenizer(self.settings))

    def embedder(self) -> Any:
        from honcho_local.llm import build_embedder

        return self._build("embedder", lambda: build_embedder(self.settings))

    def query_embedder(self) -> Any:
        """The embedder for request-time texts (search queries, conclusions created through the API):
        a second instance of the same model, so a search never waits for the worker to finish
        embedding a batch of new messages (a loaded model serves one call at a time;
        docs/decisions/007-tuned-constants.md)."""
        from honcho_local.llm import build_embedder

        return self._build("query_embedder", lambda: build_embedder(self.settings))

    def state(self) -> dict[str, Any]:
        """The configured chat and embedding models: loaded yet, or why they cannot be (`off`: not wanted)."""
        from honcho_local.llm.catalog import embeddings_off

        def one(name: str, role: str, off: bool = False) -> dict[str, Any]:
            error = self._errors.get(role)
            return {"name": name, "loaded": getattr(self, f"_{role}") is not None, "off": off,
                    "error": error.detail if error else None}

        return {"chat": one(self.settings.reasoning_model, "llm"),
                "embedding": one(self.settings.embedding_model, "embedder", embeddings_off(self.settings)),
                "tokenizer": one(self.settings.reasoning_model, "tokenizer")}

    def close(self) -> None:
        models = (self._llm, self._embedder, self._query_embedder, self._tokenizer)
        for model in {id(m): m for m in models if m is not None}.values():
            model.close()


class LazyLLM:
    """The `LLM` protocol over `Models.llm()`: the worker shares the read path's model, loaded on first use."""

    provider = "lazy"

    def __init__(self, models: Models) -> None:
        self._models = models

    @property
    def model(self) -> str:
        return self._models.settings.reasoning_model

    def complete(self, request: ChatRequest) -> Completion:
        return self._models.llm().complete(request)

    def stream(self, request: ChatRequest) -> Any:
        return self._models.llm().stream(request)

    def count_tokens(self, text: str) -> int:
        return self._models.count_tokens(text)

    def close(self) -> None:
        return None


@dataclass
class Services:
    settings: Settings
    store: Store
    resources: Resources
    ingest: Ingest
    scopes: Scopes
    # Set by build_read_path and build_reasoning before build_services returns them (never None after).
    models: Models = field(init=False)
    lexical: LexicalIndex = field(init=False)
    search: Search = field(init=False)
    read_cache: ReadCache = field(init=False)  # the read services' cache (answered first on the event loop)
    representations: Representations = field(init=False)
    context: SessionContext = field(init=False)
    message_list: MessageList = field(init=False)
    conclusions: Conclusions = field(init=False)
    dialectic: Dialectic = field(init=False)
    reasoner: Reasoner = field(init=False)
    dreams: Dreams = field(init=False)  # on request (`schedule_dream`) and, with a worker, automatic
    worker: Any = None
    version: str = versions.DEFAULT_VERSION
    activity: Activity = field(init=False)  # what the worker's running units are doing (queue status lists it)

    def queue_status(self, workspace_id: str, observer_id: str | None = None, sender_id: str | None = None,
                     session_id: str | None = None) -> dict[str, Any]:
        running = self.worker.running() if self.worker is not None else set()
        return queue_status.queue_status(self.store, self.version, running, workspace_id, observer_id, sender_id,
                                         session_id, self.activity.running() if self.activity else [])

    def server_status(self, minutes: float = 15.0) -> dict[str, Any]:
        """Queue, models and the last `minutes` of work across workspaces (`GET /status`)."""
        running = self.worker.running() if self.worker is not None else set()
        return status.server_status(self.store, self.version, running,
                                    self.activity.running() if self.activity else [],
                                    self.models.state() if self.models else {}, minutes)

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
        if self.lexical is not None:
            self.lexical.close()
        if self.models is not None:
            # Closing waits for the model lock; a generation still running in a worker thread must not
            # hold shutdown past its deadline (the process is exiting; the OS reclaims the model).
            closer = threading.Thread(target=self.models.close, name="models-close", daemon=True)
            closer.start()
            closer.join(timeout=1.0)
        self.store.close()


def build_read_path(services: Services, models: Models) -> None:
    """The read services (issue 5): search indexes, representations, context, conclusions, chat."""
    settings, store = services.settings, services.store
    queries = QueryEmbedder(models.query_embedder)
    cache = ReadCache(store, settings.read_cache_size)
    metrics.READ_CACHE_LOOKUPS.labels("hit").set_function(lambda: cache.hits)
    metrics.READ_CACHE_LOOKUPS.labels("miss").set_function(lambda: cache.misses)
    metrics.READ_CACHE_ENTRIES.set_function(lambda: len(cache))
    services.models = models
    services.read_cache = cache
    rows = MessageRows(store)  # the log's message rows in memory: search results, session context, index tail
    services.lexical = LexicalIndex(store, settings.home / "lexical-index", rows)
    Forgetting.of(store).lexical = services.lexical  # deletes rebuild it without the deleted messages
    services.ingest.listeners.append(services.lexical.notify)
    services.ingest.listeners.append(rows.appended)
    services.search = Search(store, services.lexical, MessageVectors(store), queries, cache, rows)
    services.representations = Representations(store, queries, cache)
    services.context = SessionContext(store, services.representations, settings.get_context_max_tokens,
                                      rows=rows)
    services.message_list = MessageList(store, cache, rows)
    services.conclusions = Conclusions(store, queries, cache)
    services.dialectic = Dialectic(store, services.representations, services.search, models.llm,
                                   settings.model_context)


def build_services(settings: Settings, count_tokens: TokenCounter = estimate_tokens,
                   models: Models | None = None, with_worker: bool = False, llm: Any = None,
                   embedder_factory: Any = None) -> Services:
    """Everything `serve` needs. Models load lazily, on the first call that needs them."""
    limit_native_threads()
    store = Store.open(settings.db_path, batch_max=settings.write_batch_max, fsync=settings.durability == "full")
    resources = Resources(store)
    ingest = Ingest(store, resources, settings.max_message_size, count_tokens)
    services = Services(settings=settings, store=store, resources=resources, ingest=ingest, scopes=Scopes(store))
    models = models or Models(settings, llm=llm, embedder=embedder_factory() if embedder_factory else None)
    build_read_path(services, models)
    build_reasoning(services, models, with_worker)
    Forgetting.of(store).resume()
    return services


def build_reasoning(services: Services, models: Models, with_worker: bool) -> None:
    """The worker side (issue 4): one reasoner per active representation version."""
    settings, store = services.settings, services.store
    versions.ensure_version(store, settings)
    services.version = store.read(versions.default_version)  # the latest activation (admin routes follow it)
    llm = LazyLLM(models)
    services.activity = Activity()
    Forgetting.of(store).activity = services.activity  # a delete settles the worker's runs in flight on it
    reasoners = [reasoner_for(settings, store, llm, spec, models.embedder, services.activity)
                 for spec in store.read(versions.active_versions)]
    default = next(r for r in reasoners if r.version == services.version)
    services.reasoner = default
    services.dreams = Dreams(store, settings, services.dialectic.get_llm, Embeddings(models.embedder))
    if with_worker:
        from honcho_local.worker import Worker

        for name in ("queue.sqlite3", "queue.sqlite3-wal", "queue.sqlite3-shm"):  # earlier releases' queue file
            (settings.home / name).unlink(missing_ok=True)  # (the queue is in memory: decisions/002-worker-queue.md)
        services.worker = Worker([default, *[r for r in reasoners if r is not default]], settings.worker_concurrency,
                                 settings.worker_poll_interval, services.activity)
        services.worker.periodic.append(DreamTrigger(store, settings, services.dreams).tick)  # asked for and automatic
        services.dreams.wake = services.worker.wake
        services.ingest.listeners.append(services.worker.notify_messages)


def reasoner_for(settings: Settings, store: Store, llm: Any, spec: versions.VersionSpec,
                 embedder_factory: Any, activity: Activity | None = None) -> Reasoner:
    """The reasoner of one version: its own chat model when the version overrides it."""
    if spec.reasoning_model and spec.reasoning_model != settings.reasoning_model:
        llm = LazyLLM(Models(settings.model_copy(update={"reasoning_model": spec.reasoning_model})))
    return Reasoner(settings, store, llm, spec, embedder_factory, activity=activity)
