"""Composition: the only place that builds settings → store → services (→ llm, queue later)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from honcho_local.config import Settings
from honcho_local.errors import HonchoLocalError, ModelUnavailable
from honcho_local.services.conclusions import Conclusions
from honcho_local.services.context import SessionContext
from honcho_local.services.dialectic import Dialectic
from honcho_local.services.ingest import Ingest
from honcho_local.services.readcache import ReadCache
from honcho_local.services.representation import Representations
from honcho_local.services.resources import Resources
from honcho_local.services.search import QueryEmbedder, Search
from honcho_local.services.tokens import TokenCounter, estimate_tokens
from honcho_local.store import Store
from honcho_local.store.search import LexicalIndex, MessageVectors

log = logging.getLogger(__name__)


class Models:
    """The chat model and the embedder, each built on first use (the server starts without them).

    A chat model that cannot be loaded raises `ModelUnavailable` (HTTP 503) on every use; an
    embedder that cannot be loaded makes semantic reads fall back to lexical/recency ones."""

    def __init__(self, settings: Settings, llm: Any = None, embedder: Any = None) -> None:
        self.settings = settings
        self._llm, self._embedder = llm, embedder
        self._errors: dict[str, HonchoLocalError] = {}
        self._lock = threading.Lock()

    def _build(self, role: str, make: Any) -> Any:
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
        from honcho_local.llm import Router, build_fallback, build_llm, build_local_chat
        from honcho_local.llm import fallback_configured

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

    def embedder(self) -> Any:
        from honcho_local.llm import build_embedder

        return self._build("embedder", lambda: build_embedder(self.settings))

    def close(self) -> None:
        for model in (self._llm, self._embedder):
            if model is not None:
                model.close()


@dataclass
class Services:
    settings: Settings
    store: Store
    resources: Resources
    ingest: Ingest
    extras: dict[str, Any] = field(default_factory=dict)
    models: Models | None = None
    lexical: LexicalIndex | None = None
    search: Search | None = None
    representations: Representations | None = None
    context: SessionContext | None = None
    conclusions: Conclusions | None = None
    dialectic: Dialectic | None = None

    def close(self) -> None:
        if self.lexical is not None:
            self.lexical.close()
        if self.models is not None:
            self.models.close()
        self.store.close()


def build_read_path(services: Services, models: Models) -> None:
    """The read services (issue 5): search indexes, representations, context, conclusions, chat."""
    settings, store = services.settings, services.store
    queries = QueryEmbedder(models.embedder)
    cache = ReadCache(store, settings.read_cache_size)
    services.models = models
    services.lexical = LexicalIndex(store, settings.home / "lexical-index")
    services.ingest.listeners.append(services.lexical.notify)
    services.search = Search(store, services.lexical, MessageVectors(store), queries, cache)
    services.representations = Representations(store, queries, cache)
    services.context = SessionContext(store, services.representations, settings.get_context_max_tokens)
    services.conclusions = Conclusions(store, queries, cache)
    services.dialectic = Dialectic(store, services.representations, services.search, models.llm,
                                   settings.model_context)


def build_services(settings: Settings, count_tokens: TokenCounter = estimate_tokens,
                   models: Models | None = None) -> Services:
    store = Store.open(settings.db_path, batch_max=settings.write_batch_max, fsync=settings.durability == "full")
    resources = Resources(store)
    ingest = Ingest(store, resources, settings.max_message_size, count_tokens)
    services = Services(settings=settings, store=store, resources=resources, ingest=ingest)
    build_read_path(services, models or Models(settings))
    return services
