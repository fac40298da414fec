"""Scopes (Honcho 3.1+): named sets of a workspace's sessions that confine recall.

The routes are Honcho's (`api/scopes.py`): create-or-get, list, get, add and remove member sessions, list
them, and the backfill status. A read that names a scope (`scope` on peer and workspace chat,
representation, session context and workspace search) is confined to the scope's member sessions, as a
session allowlist is (`services/allowlist.py`): a list of scopes to the union of their members, fail-closed
(a scope without members recalls nothing).

Where honcho-local differs from Honcho, on purpose: Honcho keeps a scope as a hidden peer that observes its
sessions from the moment they join (and copies what was derived before, in the background); honcho-local
reads the member sessions' own conclusions and messages, so a session's whole history counts the moment it
joins and leaving takes it out at once. The backfill status therefore reports every member completed, with
the conclusions its session holds as `docs_copied`.
"""

from __future__ import annotations

from typing import Any

from honcho_local.errors import InvalidInput, NotFound
from honcho_local.services import views
from honcho_local.services.resources import Paging
from honcho_local.store import Store, WriteContext
from honcho_local.store import scopes as repo_scopes
from honcho_local.store import sessions as sessions_db
from honcho_local.store import workspaces as workspaces_db

MAX_SCOPES = 100  # scopes one read may name (Honcho's cap); ids follow the id pattern, so never "scope.…"


def view(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "metadata": row["metadata"], "created_at": views.iso(row["created_at"])}


class Scopes:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get_or_create(self, workspace_id: str, scope_id: str, metadata: dict | None) -> tuple[dict[str, Any], bool]:
        def op(ctx: WriteContext) -> tuple[dict[str, Any], bool]:
            workspaces_db.ensure_workspace(ctx, workspace_id)
            created = repo_scopes.ensure_scope(ctx, workspace_id, scope_id, metadata)
            row = repo_scopes.get_scope(ctx.conn, workspace_id, scope_id)
            assert row is not None  # created or found in this transaction
            return view(row), created

        return self.store.write(op, scoped=True)

    def list_scopes(self, workspace_id: str, paging: Paging) -> dict[str, Any]:
        rows, total = self.store.read(
            lambda cur: repo_scopes.list_scopes(cur, workspace_id, paging.page, paging.size, paging.reverse))
        return views.page([view(r) for r in rows], total, paging.page, paging.size)

    def get(self, workspace_id: str, scope_id: str) -> dict[str, Any]:
        return view(self.store.read(lambda cur: _require(cur, workspace_id, scope_id)))

    def add_sessions(self, workspace_id: str, scope_id: str, session_ids: list[str]) -> None:
        """Every named session must exist (404 naming the first missing one); members stay members."""
        def op(ctx: WriteContext) -> None:
            _require(ctx.conn, workspace_id, scope_id)
            for session_id in session_ids:
                row = sessions_db.get_session(ctx.conn, workspace_id, session_id)
                if row is None or not row.is_active:
                    raise NotFound(f"session {session_id!r} not found in workspace {workspace_id!r}")
            repo_scopes.add_sessions(ctx, workspace_id, scope_id, session_ids)

        self.store.write(op, scoped=True)

    def remove_session(self, workspace_id: str, scope_id: str, session_id: str) -> None:
        def op(ctx: WriteContext) -> None:
            _require(ctx.conn, workspace_id, scope_id)
            repo_scopes.remove_session(ctx, workspace_id, scope_id, session_id)

        self.store.write(op, scoped=True)

    def list_sessions(self, workspace_id: str, scope_id: str, paging: Paging) -> dict[str, Any]:
        def read(cur: Any) -> tuple[list[sessions_db.Session], int]:
            _require(cur, workspace_id, scope_id)
            return repo_scopes.list_sessions(cur, workspace_id, scope_id, paging.page, paging.size, paging.reverse)

        rows, total = self.store.read(read)
        return views.page([views.session(r) for r in rows], total, paging.page, paging.size)

    def status(self, workspace_id: str, scope_id: str) -> dict[str, Any]:
        def read(cur: Any) -> dict[str, Any]:
            _require(cur, workspace_id, scope_id)
            members = repo_scopes.member_rows(cur, workspace_id, scope_id)
            counts = repo_scopes.conclusions_per_session(cur, workspace_id, [m[0] for m in members])
            return {"backfill_status": {
                session_id: {"state": "completed", "updated_at": views.iso(joined), "docs_copied": counts.get(session_id, 0)}
                for session_id, joined in members}}

        return self.store.read(read)

    def sessions_of(self, workspace_id: str, scope: str | list[str]) -> list[str]:
        """The member sessions of one scope, or the union over a list of them (a 404 for a scope that does not
        exist): the allowlist a read naming `scope` is confined to."""
        names = [scope] if isinstance(scope, str) else scope
        if not names or len(names) > MAX_SCOPES:
            raise InvalidInput(f"`scope` names 1 to {MAX_SCOPES} scopes")

        found, sessions = self.store.read(lambda cur: repo_scopes.union_of(cur, workspace_id, names))
        missing = next((name for name in names if name not in found), None)
        if missing is not None:
            raise NotFound(f"scope {missing!r} not found in workspace {workspace_id!r}")
        return sessions


def _require(cur: Any, workspace_id: str, scope_id: str) -> dict[str, Any]:
    row = repo_scopes.get_scope(cur, workspace_id, scope_id)
    if row is None:
        raise NotFound(f"scope {scope_id!r} not found in workspace {workspace_id!r}")
    return row
