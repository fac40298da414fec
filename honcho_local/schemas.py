"""Shared pydantic types: request bodies of the Honcho v3 API and their validation rules.

Validation here is structural (types, id charset, metadata limits, batch sizes); limits that depend
on settings (message size) are checked in the services.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints

NAME_PATTERN = r"^[a-zA-Z0-9_-]+$"
MAX_METADATA_KEYS = 100
MAX_METADATA_DEPTH = 5

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, min_length=1, max_length=512, strict=True)]


def _strip_nul(value: Any, depth: int) -> Any:
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata may be nested at most {MAX_METADATA_DEPTH} levels deep")
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_strip_nul(k, depth): _strip_nul(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v, depth + 1) for v in value]
    return value


def _check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"metadata may have at most {MAX_METADATA_KEYS} top-level keys")
    return _strip_nul(value, 1)


Metadata = Annotated[dict[str, Any], AfterValidator(_check_metadata)]


def _strip_text(value: str) -> str:
    return value.replace("\x00", "")


Text = Annotated[str, StringConstraints(strict=True), AfterValidator(_strip_text)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ReasoningConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    enabled: StrictBool | None = None
    custom_instructions: str | None = Field(None, max_length=16_000)


class PeerCardConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    use: StrictBool | None = None
    create: StrictBool | None = None


class SummaryConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    enabled: StrictBool | None = None
    messages_per_short_summary: StrictInt | None = Field(None, ge=10)
    messages_per_long_summary: StrictInt | None = Field(None, ge=20)


class DreamConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    enabled: StrictBool | None = None


class ResourceConfiguration(BaseModel):
    """Workspace or session `configuration`: known sections are type-checked, extra keys kept."""

    model_config = ConfigDict(extra="allow")
    reasoning: ReasoningConfig | None = None
    peer_card: PeerCardConfig | None = None
    summary: SummaryConfig | None = None
    dream: DreamConfig | None = None


class MessageConfiguration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reasoning: ReasoningConfig | None = None


class PeerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observe_me: StrictBool | None = None


class SessionPeerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observe_me: StrictBool | None = None
    observe_others: StrictBool | None = None


class WorkspaceCreate(_Body):
    id: Name
    metadata: Metadata | None = None
    configuration: ResourceConfiguration | None = None


class ResourceUpdate(_Body):
    metadata: Metadata | None = None
    configuration: ResourceConfiguration | None = None


class PeerCreate(_Body):
    id: Name
    metadata: Metadata | None = None
    configuration: PeerConfig | None = None


class PeerUpdate(_Body):
    metadata: Metadata | None = None
    configuration: PeerConfig | None = None


class SessionCreate(_Body):
    id: Name
    metadata: Metadata | None = None
    peers: dict[Name, SessionPeerConfig] | None = None
    configuration: ResourceConfiguration | None = None
    scopes: list[Name] | None = Field(None, max_length=100)  # each created if missing; the session joins it


class ScopeCreate(_Body):
    """`POST /v3/workspaces/{w}/scopes` (Honcho 3.1): create-or-get a scope by id."""
    id: Name
    metadata: Metadata | None = None


class ScopeSessionsAdd(_Body):
    session_ids: list[Name] = Field(min_length=1, max_length=100)


# `scope` on a read: one scope id, or a list of 1-100 (the union of their member sessions)
ScopeOption = Name | Annotated[list[Name], Field(min_length=1, max_length=100)]


class MessageCreate(_Body):
    content: Text
    peer_id: Name
    metadata: Metadata | None = None
    configuration: MessageConfiguration | None = None
    created_at: datetime | None = None


class MessageBatch(_Body):
    messages: list[MessageCreate] = Field(min_length=1, max_length=100)


class EventCreate(_Body):
    """A non-message event (honcho-local extension): a tool call or a custom event."""

    kind: Literal["message", "tool_call", "tool_result", "custom"]
    peer_id: Name
    content: Text
    metadata: Metadata | None = None
    created_at: datetime | None = None


class EventBatch(_Body):
    events: list[EventCreate] = Field(min_length=1, max_length=100)


class MessageUpdate(_Body):
    metadata: Metadata


class ListBody(_Body):
    filters: dict[str, Any] | None = None


class PeerListBody(ListBody):
    """`kind` (Honcho 3.1): omitted or "all" lists every peer; "scope" lists scope peers. honcho-local keeps
    scopes apart from peers (the scope routes list them), so no peer is a scope peer and "scope" lists none."""
    kind: Literal["scope", "all"] | None = None


def dump_config(config: BaseModel | None) -> dict[str, Any] | None:
    """A configuration model as a plain dict without unset keys (None when not given)."""
    if config is None:
        return None
    return config.model_dump(exclude_unset=True)
