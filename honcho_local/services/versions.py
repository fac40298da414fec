"""Representation versions: which version the worker writes and which one a read uses.

Every derived row carries a version name. A version records the fingerprint of what produced it
(models, prompts, reasoning settings). `ensure_version` registers the version the worker writes;
`read_version` answers which version a read uses (explicit request > default active version).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from honcho_local.config import Settings
from honcho_local.services import deriver, peer_card, summarizer
from honcho_local.store import Store, WriteContext, utcnow

log = logging.getLogger(__name__)
DEFAULT_VERSION = "v1"


def fingerprint(settings: Settings) -> tuple[str, dict[str, Any]]:
    """A hash of everything that shapes derived rows: models, prompts and reasoning settings."""
    parts = {
        "reasoning_model": settings.reasoning_model, "embedding_model": settings.embedding_model,
        "batch_tokens": settings.reasoning_batch_size, "max_facts": settings.reasoning_max_facts,
        "deductions": settings.reasoning_deductions, "deriver_prompt": deriver.SYSTEM,
        "deriver_schema": deriver.schema(settings.reasoning_max_facts, settings.reasoning_deductions),
        "summary_budget": summarizer.BUDGET, "card_schema": peer_card.SCHEMA,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return digest, parts


def ensure_version(store: Store, settings: Settings) -> str:
    """The version the worker writes: the default one, registered with its fingerprint on first start.

    When the settings' fingerprint differs from the stored one, the worker keeps writing the default
    version (derived rows stay comparable) and says so; a clean new version is made by reprocessing.
    """
    digest, parts = fingerprint(settings)

    def op(ctx: WriteContext) -> str:
        row = ctx.conn.execute("SELECT fingerprint FROM representation_versions WHERE name = ?",
                               [DEFAULT_VERSION]).fetchone()
        if row is None:
            ctx.conn.execute("INSERT INTO representation_versions VALUES (?, ?, ?, ?, ?, 'active', NULL, ?)",
                             [DEFAULT_VERSION, digest, settings.reasoning_model, settings.embedding_model,
                              json.dumps(parts, default=str), utcnow()])
        elif row[0] != digest:
            log.warning("reasoning settings changed since version %s was created (fingerprint %s, now %s); "
                        "new conclusions are still written to %s", DEFAULT_VERSION, row[0], digest,
                        DEFAULT_VERSION)
        return DEFAULT_VERSION

    return store.write(op)


def read_version(cur: Any, workspace_id: str, peer_id: str | None = None, requested: str | None = None) -> str:
    """The representation version a read should use."""
    if requested:
        return requested
    return DEFAULT_VERSION
