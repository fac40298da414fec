"""Request bodies of the read path (issue 5): representation, card, search, conclusions, chat.

Kept apart from `schemas.py` so the read and write paths can evolve without touching one file.
Range checks that need a readable 422 message live in the services.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from honcho_local.schemas import Name, ScopeOption, Text

# Documented bounds (the OpenAPI document states them); the services check the same ranges with their own words.
NON_BLANK = r"\S"  # at least one character that is not whitespace (a JSON-schema pattern matches anywhere)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RepresentationBody(_Body):
    session_id: Name | None = None
    target: Name | None = None
    search_query: str | None = None
    search_top_k: StrictInt | None = Field(None, ge=1, le=100)
    search_max_distance: StrictFloat | None = Field(None, ge=0, le=1)
    include_most_frequent: StrictBool | None = None
    max_conclusions: StrictInt | None = Field(None, ge=1, le=100)
    filters: dict[str, Any] | None = None
    as_of: str | None = None
    version: str | None = None
    scope: ScopeOption | None = None  # confines recall to the scopes' sessions (api/scopes.py)


class CardBody(_Body):
    peer_card: list[Annotated[str, Field(max_length=2_000)]] = Field(max_length=100)


class SearchBody(_Body):
    query: str = Field(min_length=1, max_length=10_000, pattern=NON_BLANK)
    filters: dict[str, Any] | None = None
    limit: StrictInt = Field(10, ge=1, le=100)
    scope: Name | None = None  # workspace search only (api/scopes.py)


class ConclusionCreate(_Body):
    content: Text = Field(min_length=1, max_length=65_535, pattern=NON_BLANK)
    observer_id: Name
    observed_id: Name
    session_id: Name | None = None


class ConclusionBatch(_Body):
    conclusions: list[ConclusionCreate] = Field(min_length=1, max_length=100,
                                                validation_alias=AliasChoices("conclusions", "observations"))


class ConclusionQuery(_Body):
    query: str = Field(min_length=1, pattern=NON_BLANK)
    top_k: StrictInt = Field(10, ge=1, le=100)
    distance: StrictFloat | None = Field(None, ge=0, le=1)
    filters: dict[str, Any] | None = None


class ChatBody(_Body):
    query: str = Field(min_length=1, max_length=10_000)
    stream: StrictBool = False
    target: Name | None = None
    session_id: Name | None = None
    reasoning_level: str | None = None
    response_format: dict[str, Any] | None = None
    include_evidence: StrictBool = False
    filters: dict[str, Any] | None = None
    scope: ScopeOption | None = None  # confines recall to the scopes' sessions (api/scopes.py)


class WorkspaceChatBody(_Body):
    """`POST /v3/workspaces/{w}/chat` (Honcho 3.2): chat over the whole workspace."""
    query: str = Field(min_length=1, max_length=10_000)
    stream: StrictBool = False
    session_id: Name | None = None
    reasoning_level: str | None = None
    response_format: dict[str, Any] | None = None
    include_evidence: StrictBool = False
    scope: ScopeOption | None = None  # confines recall to the scopes' sessions (api/scopes.py)


class ScheduleDreamBody(_Body):
    """`POST /v3/workspaces/{w}/schedule_dream` (Honcho 3.x; what it does: services/dreams.py)."""
    observer: Name
    observed: Name | None = None
    dream_type: Literal["omni", "card_refresh"]
    session_id: Name | None = None
    rebuild: StrictBool = False


class RecallBody(_Body):
    """`POST …/peers/{p}/recall` (honcho-local extension): chat's retrieval without the model."""
    query: str = Field(min_length=1, max_length=10_000)
    target: Name | None = None
    session_id: Name | None = None
    reasoning_level: str | None = None
    limit: StrictInt | None = Field(None, ge=1, le=100)
    filters: dict[str, Any] | None = None  # a session allowlist, as on chat
    scope: ScopeOption | None = None  # confines recall to the scopes' sessions (api/scopes.py)
