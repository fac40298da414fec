"""Composition: the only place that builds settings → store → services (→ llm, queue later)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from honcho_local.config import Settings
from honcho_local.services.ingest import Ingest
from honcho_local.services.resources import Resources
from honcho_local.services.tokens import TokenCounter, estimate_tokens
from honcho_local.store import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    resources: Resources
    ingest: Ingest
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.store.close()


def build_services(settings: Settings, count_tokens: TokenCounter = estimate_tokens) -> Services:
    store = Store.open(settings.db_path, batch_max=settings.write_batch_max, fsync=settings.durability == "full")
    resources = Resources(store)
    ingest = Ingest(store, resources, settings.max_message_size, count_tokens)
    return Services(settings=settings, store=store, resources=resources, ingest=ingest)
