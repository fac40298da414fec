"""Scopes (Honcho 3.1+): Honcho's seven routes under `/v3/workspaces/{w}/scopes`, and `scope` on reads.

A scope is a named set of a workspace's sessions (`services/scopes.py`). A read naming one is confined to
the scope's member sessions: `scope` on peer chat, recall and representation (one name or a list of 1-100,
the union of their members; not with `filters` or `session_id`), on workspace chat (not with
`session_id`), on workspace search (one name; not with a `session_id` filter) and on the session context
(`?scope=`, with `peer_target`, not with `peer_perspective` or `sessions`). A scope without members recalls
nothing; a scope that does not exist is a 404. Session and peer search take no scope: naming one is a 422
rather than an answer from unscoped data. Scopes need a workspace- or admin-level key (`api.membership`).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from honcho_local import schemas
from honcho_local.api.deps import created_or_ok
from honcho_local.errors import InvalidInput
from honcho_local.services.resources import Paging
from honcho_local.wiring import Services


def scoped_filters(svc: Services, workspace_id: str, scope: Any, filters: Any, session_id: str | None) -> Any:
    """A body's `filters` with its `scope` turned into the session allowlist it stands for (`filters` as
    given when no scope is named). `scope` excludes `filters` and `session_id`, as in Honcho."""
    if scope is None:
        return filters
    if filters:
        raise InvalidInput("`scope` and `filters` are mutually exclusive")
    if session_id is not None:
        raise InvalidInput("`scope` and `session_id` are mutually exclusive")
    return {"session_id": svc.scopes.sessions_of(workspace_id, scope)}


def refuse_scope(value: Any, where: str) -> None:
    """422 for `scope` where Honcho takes none (session and peer search), never an answer from unscoped data."""
    if value is not None:
        raise InvalidInput(f"`scope` is taken by workspace search, not by {where}: search the workspace with "
                           "`scope`, or name the sessions in `filters`")


class ScopeController(Controller):
    path = "/v3/workspaces/{workspace_id:str}/scopes"
    tags = ["scopes"]

    @post("/", operation_id="get_or_create_scope", sync_to_thread=True)
    def get_or_create(self, workspace_id: FromPath[str], data: JSONBody[schemas.ScopeCreate],
                      svc: NamedDependency[Services]) -> Response[dict[str, Any]]:
        """Get a scope by id, or create it: 201 when created, 200 when it existed (its metadata unchanged)."""
        return created_or_ok(*svc.scopes.get_or_create(workspace_id, data.id, data.metadata))

    @post("/list", operation_id="list_scopes", status_code=200, sync_to_thread=True)
    def list_(self, workspace_id: FromPath[str], svc: NamedDependency[Services],
              paging: NamedDependency[Paging]) -> dict[str, Any]:
        """The workspace's scopes, oldest first (`reverse`: newest first)."""
        return svc.scopes.list_scopes(workspace_id, paging)

    @get("/{scope_id:str}", operation_id="get_scope", sync_to_thread=True)
    def get_(self, workspace_id: FromPath[str], scope_id: FromPath[str], svc: NamedDependency[Services]) -> dict[str, Any]:
        return svc.scopes.get(workspace_id, scope_id)

    @post("/{scope_id:str}/sessions", operation_id="add_scope_sessions", status_code=204, sync_to_thread=True)
    def add_sessions(self, workspace_id: FromPath[str], scope_id: FromPath[str], data: JSONBody[schemas.ScopeSessionsAdd],
                     svc: NamedDependency[Services]) -> None:
        """Add existing sessions (404 for one that does not exist); a member already in stays as it was."""
        svc.scopes.add_sessions(workspace_id, scope_id, data.session_ids)

    @delete("/{scope_id:str}/sessions/{session_id:str}", operation_id="remove_scope_session", status_code=204,
            sync_to_thread=True)
    def remove_session(self, workspace_id: FromPath[str], scope_id: FromPath[str], session_id: FromPath[str],
                       svc: NamedDependency[Services]) -> None:
        svc.scopes.remove_session(workspace_id, scope_id, session_id)

    @post("/{scope_id:str}/sessions/list", operation_id="list_scope_sessions", status_code=200, sync_to_thread=True)
    def list_sessions(self, workspace_id: FromPath[str], scope_id: FromPath[str], svc: NamedDependency[Services],
                      paging: NamedDependency[Paging]) -> dict[str, Any]:
        """The member sessions, longest-standing first (`reverse`: most recently added first)."""
        return svc.scopes.list_sessions(workspace_id, scope_id, paging)

    @get("/{scope_id:str}/status", operation_id="get_scope_status", sync_to_thread=True)
    def status(self, workspace_id: FromPath[str], scope_id: FromPath[str], svc: NamedDependency[Services]) -> dict[str, Any]:
        """Each member's backfill state: always `completed` in honcho-local (members are read in place)."""
        return svc.scopes.status(workspace_id, scope_id)
