"""Representation versions: which versions the worker maintains and which one a read uses.

Every derived row carries a version name. A version records what produced it: a fingerprint of the
models, prompts and reasoning settings, plus its own overrides (chat model, extra prompt text, a
`since` cut-off, a workspace). Every *active* version is maintained by the worker; the *default*
version (the latest activation) is what reads use unless a request names one, the workspace's
configuration names one, or the workspace runs an A/B split:

    {"representation": {"version": "v2"}}                       # the whole workspace reads v2
    {"representation": {"ab": {"version": "v2", "percent": 20}}} # 20% of peers read v2, stable per peer
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from honcho_local.config import Settings
from honcho_local.errors import Conflict, InvalidInput, NotFound
from honcho_local.services import deriver, peer_card, summarizer
from honcho_local.store import Store, WriteContext, ws_tag
from honcho_local.store import versions as stored
from honcho_local.store.sql import Cursor
from honcho_local.store.workspaces import workspace_configuration

log = logging.getLogger(__name__)
DEFAULT_VERSION = "v1"


@dataclass(frozen=True)
class VersionSpec:
    """A version's own overrides on top of the settings."""

    name: str
    reasoning_model: str | None = None
    custom_instructions: str | None = None
    since: datetime | None = None
    workspace: str | None = None

    def overrides(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        return data


def fingerprint(settings: Settings, spec: VersionSpec | None = None) -> tuple[str, dict[str, Any]]:
    """A hash of everything that shapes derived rows: models, prompts and reasoning settings."""
    parts = {
        "reasoning_model": (spec and spec.reasoning_model) or settings.reasoning_model,
        "embedding_model": settings.embedding_model, "batch_tokens": settings.reasoning_batch_size,
        "context_chars": settings.reasoning_context_chars, "target_chars": deriver.MAX_TARGET_CHARS,
        "max_facts": settings.reasoning_max_facts, "deductions": settings.reasoning_deductions,
        "deriver_prompt": [deriver.SYSTEM, deriver.FORMAT, deriver.FORMAT_DEDUCTIONS],
        "deriver_schema": deriver.schema(settings.reasoning_max_facts, settings.reasoning_deductions),
        "summary_budget": [summarizer.BUDGET, summarizer.MAX_INPUT_TOKENS, summarizer.MIN_LINE_CHARS],
        "card": peer_card.fingerprint(), "free_json": settings.model_free_json,
        "custom_instructions": spec.custom_instructions if spec else None,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return digest, parts


def _spec(name: str, settings: dict[str, Any]) -> VersionSpec:
    data = settings.get("overrides") or {}
    since = datetime.fromisoformat(data["since"]) if data.get("since") else None
    return VersionSpec(name, data.get("reasoning_model"), data.get("custom_instructions"), since,
                       data.get("workspace"))


def _insert(ctx: WriteContext, settings: Settings, spec: VersionSpec, parent: str | None) -> None:
    digest, parts = fingerprint(settings, spec)
    stored.insert_version(ctx, spec.name, digest, parts["reasoning_model"], settings.embedding_model,
                          {"fingerprint_of": parts, "overrides": spec.overrides()}, parent)


def ensure_version(store: Store, settings: Settings) -> str:
    """Register the default version on first start. When the settings' fingerprint differs from the
    stored one, the worker keeps writing it (rows stay comparable) and says so; a clean new version
    comes from `honcho-local reprocess`."""
    digest, _ = fingerprint(settings, VersionSpec(DEFAULT_VERSION))

    def op(ctx: WriteContext) -> str:
        known = stored.version_fingerprint(ctx.conn, DEFAULT_VERSION)
        if known is None:
            _insert(ctx, settings, VersionSpec(DEFAULT_VERSION), None)
            stored.record_activation(ctx, DEFAULT_VERSION)
        elif known != digest:
            log.warning("reasoning settings changed since version %s was made (fingerprint %s, now %s); "
                        "run `honcho-local reprocess --version NAME` for a clean version", DEFAULT_VERSION,
                        known, digest)
        return DEFAULT_VERSION

    return store.write(op)


def create_version(store: Store, settings: Settings, spec: VersionSpec) -> tuple[VersionSpec, bool]:
    """Create a version (or find the same one again, for resuming). Returns (spec, created)."""
    if not spec.name or not spec.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InvalidInput(f"version names use letters, digits, '-', '_' and '.': {spec.name!r}")

    def op(ctx: WriteContext) -> tuple[VersionSpec, bool]:
        found = stored.version_settings(ctx.conn, spec.name)
        if found is not None:
            existing = _spec(spec.name, found)
            if existing != spec:
                raise Conflict(f"version {spec.name!r} exists with other settings ({existing.overrides()}); "
                               "pick another name")
            return existing, False
        _insert(ctx, settings, spec, default_version(ctx.conn))
        return spec, True

    return store.write(op)


def active_versions(cur: Cursor) -> list[VersionSpec]:
    return [_spec(name, settings) for name, settings in stored.active_version_settings(cur)]


def list_versions(cur: Cursor) -> list[dict[str, Any]]:
    default = default_version(cur)
    return [{**row, "default": row["name"] == default} for row in stored.version_rows(cur)]


def default_version(cur: Cursor) -> str:
    return stored.latest_activation(cur) or DEFAULT_VERSION


def activate(store: Store, name: str) -> None:
    """Make `name` the default version for reads (and keep the worker maintaining it)."""
    def op(ctx: WriteContext) -> None:
        if stored.version_fingerprint(ctx.conn, name) is None:
            raise NotFound(f"no representation version {name!r}; see `honcho-local versions list`")
        stored.record_activation(ctx, name)

    store.write(op)


def rollback(store: Store) -> str:
    """Undo the latest activation: the default before it is the default again. Returns its name."""
    def op(ctx: WriteContext) -> str:
        live = stored.live_activations(ctx, 2)
        if len(live) < 2:
            current = live[0][1] if live else DEFAULT_VERSION
            raise Conflict(f"nothing to roll back to: {current!r} is the first default version")
        stored.roll_back_activation(ctx, live[0][0])
        return live[1][1]

    return store.write(op)


def ab_bucket(workspace_id: str, peer_id: str) -> int:
    """A stable 0-99 bucket per (workspace, peer)."""
    return int(hashlib.sha256(f"{workspace_id}:{peer_id}".encode()).hexdigest()[:8], 16) % 100


def read_version(cur: Cursor, workspace_id: str, peer_id: str | None = None, requested: str | None = None) -> str:
    """The version a read uses: the request's, the workspace's, its A/B split's, or the default."""
    if requested:
        return requested
    rep = (workspace_configuration(cur, workspace_id) or {}).get("representation") or {}
    if isinstance(rep, dict):
        if rep.get("version"):
            return str(rep["version"])
        ab = rep.get("ab") or {}
        if isinstance(ab, dict) and ab.get("version") and peer_id is not None:
            if ab_bucket(workspace_id, peer_id) < float(ab.get("percent", 0)):
                return str(ab["version"])
    return default_version(cur)


def cached_read_version(cache: Any, cur: Any, workspace_id: str, peer_id: str | None = None,
                        requested: str | None = None) -> str:
    """`read_version` through the read cache: the answer depends only on the workspace configuration
    and the activations, which only unscoped writes change (two DuckDB queries, ~1 ms together, saved
    on every cached read)."""
    if requested:
        return requested
    return cache.get(("version", workspace_id, peer_id), lambda: read_version(cur, workspace_id, peer_id),
                     (ws_tag(workspace_id),))
