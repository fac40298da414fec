"""Scopes (Honcho 3.1+): refused, never silently ignored.

honcho-local does not implement scopes yet. A scope confines recall to a set of sessions, so answering a
request that names one from unscoped data would hand a client everything it meant to fence off. Instead:

* the scope routes (`/v3/workspaces/{w}/scopes...`, the seven of Honcho's router) answer 501 with a detail;
* a read or write naming a scope (`scope` on chat, workspace chat, representation, context and search,
  `scopes` on session create) answers 422 before anything is read or stored (`refuse_scope`);
* listing peers with `kind: "scope"` answers an empty page: there are no scope peers.

docs/api.md ("Scopes") lists each surface.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, post

from honcho_local.errors import InvalidInput, NotSupported

NOT_SUPPORTED = ("scopes are not supported yet by honcho-local; use session_id or a session allowlist "
                 "(filters: {\"session_id\": [...]}) to confine recall")


def refuse_scope(value: Any, name: str = "scope") -> None:
    """422 when a request names a scope (an explicit null, or `scopes: []`, names none, as in Honcho)."""
    if value is None or (name == "scopes" and value == []):
        return
    raise InvalidInput(f"`{name}` was given, but {NOT_SUPPORTED}")


class ScopeController(Controller):
    """Honcho's scope routes, each answering 501 `{"detail": ...}` instead of a bare 404/405."""

    path = "/v3/workspaces/{workspace_id:str}/scopes"
    tags = ["scopes"]

    @post("/", operation_id="get_or_create_scope", status_code=201)
    async def get_or_create(self) -> None:
        raise NotSupported(NOT_SUPPORTED)

    @post("/list", operation_id="list_scopes", status_code=200)
    async def list_(self) -> None:
        raise NotSupported(NOT_SUPPORTED)

    @get("/{scope_id:str}", operation_id="get_scope")
    async def get_(self) -> None:
        raise NotSupported(NOT_SUPPORTED)

    @post("/{scope_id:str}/sessions", operation_id="add_scope_sessions", status_code=204)
    async def add_sessions(self) -> None:
        raise NotSupported(NOT_SUPPORTED)

    @delete("/{scope_id:str}/sessions/{session_id:str}", operation_id="remove_scope_session", status_code=204)
    async def remove_session(self) -> None:
        raise NotSupported(NOT_SUPPORTED)

    @post("/{scope_id:str}/sessions/list", operation_id="list_scope_sessions", status_code=200)
    async def list_sessions(self) -> None:
        raise NotSupported(NOT_SUPPORTED)

    @get("/{scope_id:str}/status", operation_id="get_scope_status")
    async def status(self) -> None:
        raise NotSupported(NOT_SUPPORTED)
