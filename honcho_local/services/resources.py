"""Workspaces, peers, sessions and session membership: get-or-create, update, list, delete, clone.

Rules (Honcho v3, with its known quirks fixed): get-or-create applies `metadata` when given and
otherwise leaves it alone; peer `configuration` is replaced; workspace and session `configuration`
is merged as a JSON merge patch (RFC 7396: nested objects merge, `null` removes a key), so setting
`reasoning.custom_instructions` no longer drops `reasoning.enabled`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from honcho_local import schemas
from honcho_local.errors import BadRequest, InvalidInput, NotFound
from honcho_local.ids import new_id
from honcho_local.services import views
from honcho_local.services.forgetting import Forgetting
from honcho_local.store import Store, WriteContext
from honcho_local.store import events as event_log
from honcho_local.store import peers as peers_db
from honcho_local.store import scopes as repo_scopes
from honcho_local.store import sessions as sessions_db
from honcho_local.store import workspaces as workspaces_db

SESSION_OBSERVERS_LIMIT = 10
MAX_PAGE = 1_000_000_000
MAX_SIZE = 100


@dataclass(frozen=True)
class Paging:
    """A page of a list: `page` from 1 to MAX_PAGE (past it, OFFSET would overflow DuckDB's BIGINT), `size` 1-100."""

    page: int = 1
    size: int = 50
    reverse: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.page <= MAX_PAGE:
            raise InvalidInput(f"page must be between 1 and {MAX_PAGE}")
        if not 1 <= self.size <= MAX_SIZE:
            raise InvalidInput(f"size must be between 1 and {MAX_SIZE}")


Row = TypeVar("Row")


def _written(row: Row | None) -> Row:
    """A row this write has just ensured (the writer's own transaction: nothing removes it meanwhile)."""
    if row is None:
        raise LookupError("a row just ensured in this transaction is missing")
    return row


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class Resources:
    def __init__(self, store: Store, forgetting: Forgetting | None = None) -> None:
        self.store = store
        self.forgetting = forgetting or Forgetting.of(store)  # deletes forget what was derived (services/forgetting.py)

    # ---- workspaces ---------------------------------------------------------------------------
    def get_or_create_workspace(self, body: schemas.WorkspaceCreate) -> tuple[dict[str, Any], bool]:
        config = schemas.dump_config(body.configuration)

        def op(ctx: WriteContext) -> tuple[workspaces_db.Workspace, bool]:
            created = workspaces_db.ensure_workspace(ctx, body.id, body.metadata, config)
            if not created:
                current = _written(workspaces_db.get_workspace(ctx.conn, body.id))
                merged = None if config is None else merge_patch(current.configuration, config)
                workspaces_db.update_workspace(ctx, body.id, body.metadata, merged)
            return _written(workspaces_db.get_workspace(ctx.conn, body.id)), created

        row, created = self.store.write(op, scoped=True)
        return views.workspace(row), created

    def update_workspace(self, workspace_id: str, body: schemas.ResourceUpdate) -> dict[str, Any]:
        """PUT: get-or-create with the given metadata (replaced) and configuration (merge patch)."""
        create = schemas.WorkspaceCreate.model_construct(id=workspace_id, metadata=body.metadata,
                                                         configuration=body.configuration)
        return self.get_or_create_workspace(create)[0]

    def list_workspaces(self, filters: Any, paging: Paging) -> dict[str, Any]:
        rows, total = self.store.read(
            lambda cur: workspaces_db.list_workspaces(cur, filters, paging.page, paging.size, paging.reverse))
        return views.page([views.workspace(r) for r in rows], total, paging.page, paging.size)

    def delete_workspace(self, workspace_id: str) -> None:
        """Every row of the workspace, derived ones included (409 while it has active sessions)."""
        self.forgetting.delete_workspace(workspace_id)

    # ---- peers --------------------------------------------------------------------------------
    def get_or_create_peer(self, workspace_id: str, body: schemas.PeerCreate) -> tuple[dict[str, Any], bool]:
        config = schemas.dump_config(body.configuration)

        def op(ctx: WriteContext) -> tuple[peers_db.Peer, bool]:
            workspaces_db.ensure_workspace(ctx, workspace_id)
            created = peers_db.ensure_peer(ctx, workspace_id, body.id, body.metadata, config)
            if not created:
                peers_db.update_peer(ctx, workspace_id, body.id, body.metadata, config)
            return _written(peers_db.get_peer(ctx.conn, workspace_id, body.id)), created

        row, created = self.store.write(op, scoped=True)
        return views.peer(row), created

    def update_peer(self, workspace_id: str, peer_id: str, body: schemas.PeerUpdate) -> dict[str, Any]:
        config = schemas.dump_config(body.configuration)

        def op(ctx: WriteContext) -> peers_db.Peer:
            workspaces_db.ensure_workspace(ctx, workspace_id)
            peers_db.ensure_peer(ctx, workspace_id, peer_id)
            peers_db.update_peer(ctx, workspace_id, peer_id, body.metadata, config)
            return _written(peers_db.get_peer(ctx.conn, workspace_id, peer_id))

        return views.peer(self.store.write(op, scoped=True))

    def list_peers(self, workspace_id: str, filters: Any, paging: Paging) -> dict[str, Any]:
        rows, total = self.store.read(
            lambda cur: peers_db.list_peers(cur, workspace_id, filters, paging.page, paging.size, paging.reverse))
        return views.page([views.peer(r) for r in rows], total, paging.page, paging.size)

    def peer_sessions(self, workspace_id: str, peer_id: str, filters: Any, paging: Paging) -> dict[str, Any]:
        def read(cur: Any) -> tuple[list[sessions_db.Session], int]:
            if peers_db.get_peer(cur, workspace_id, peer_id) is None:
                raise NotFound(f"peer {peer_id!r} not found in workspace {workspace_id!r}")
            return sessions_db.list_sessions(cur, workspace_id, filters, paging.page, paging.size, paging.reverse,
                                      peer_id=peer_id)

        rows, total = self.store.read(read)
        return views.page([views.session(r) for r in rows], total, paging.page, paging.size)

    # ---- sessions -----------------------------------------------------------------------------
    def get_or_create_session(self, workspace_id: str, body: schemas.SessionCreate) -> tuple[dict[str, Any], bool]:
        config = schemas.dump_config(body.configuration)

        def op(ctx: WriteContext) -> tuple[sessions_db.Session, bool]:
            workspaces_db.ensure_workspace(ctx, workspace_id)
            created = sessions_db.ensure_session(ctx, workspace_id, body.id, body.metadata, config)
            if not created:
                current = _written(sessions_db.get_session(ctx.conn, workspace_id, body.id))
                merged = None if config is None else merge_patch(current.configuration, config)
                sessions_db.update_session(ctx, workspace_id, body.id, body.metadata, merged)
            if body.peers:
                self._upsert_members(ctx, workspace_id, body.id, body.peers)
            for scope_id in dict.fromkeys(body.scopes or []):  # Honcho 3.1: each scope created if it does not exist
                repo_scopes.ensure_scope(ctx, workspace_id, scope_id)
                repo_scopes.add_sessions(ctx, workspace_id, scope_id, [body.id])
            return _written(sessions_db.get_session(ctx.conn, workspace_id, body.id)), created

        row, created = self.store.write(op, scoped=True)
        return views.session(row), created

    def update_session(self, workspace_id: str, session_id: str, body: schemas.ResourceUpdate) -> dict[str, Any]:
        """PUT: get-or-create with the given metadata (replaced) and configuration (merge patch)."""
        create = schemas.SessionCreate.model_construct(id=session_id, metadata=body.metadata, peers=None,
                                                       configuration=body.configuration, scopes=None)
        return self.get_or_create_session(workspace_id, create)[0]

    def list_sessions(self, workspace_id: str, filters: Any, paging: Paging) -> dict[str, Any]:
        rows, total = self.store.read(
            lambda cur: sessions_db.list_sessions(cur, workspace_id, filters, paging.page, paging.size, paging.reverse))
        return views.page([views.session(r) for r in rows], total, paging.page, paging.size)

    def require_session(self, cur: Any, workspace_id: str, session_id: str) -> sessions_db.Session:
        row = sessions_db.get_session(cur, workspace_id, session_id)
        if row is None or not row.is_active:
            raise NotFound(f"session {session_id!r} not found in workspace {workspace_id!r}")
        return row

    def delete_session(self, workspace_id: str, session_id: str) -> None:
        """The session, its messages and what was derived from them (`Forgetting.delete_session`)."""
        self.forgetting.delete_session(workspace_id, session_id)

    def clone_session(self, workspace_id: str, session_id: str, message_id: str | None) -> dict[str, Any]:
        def op(ctx: WriteContext) -> sessions_db.Session:
            source = self.require_session(ctx.conn, workspace_id, session_id)
            cutoff = None
            if message_id is not None:
                event = event_log.get_event(ctx.conn, workspace_id, session_id, message_id, kind=None)
                if event is None:
                    raise NotFound(f"message {message_id!r} not found in session {session_id!r}")
                cutoff = event.pk
            new_session = new_id()
            sessions_db.ensure_session(ctx, workspace_id, new_session, source.metadata, source.configuration)
            for member in sessions_db.get_members(ctx.conn, workspace_id, session_id):
                sessions_db.upsert_member(ctx, workspace_id, new_session, member["peer_id"], member["observe_me"],
                                   member["observe_others"])
            event_log.copy_session_events(ctx, workspace_id, session_id, new_session, cutoff)
            return _written(sessions_db.get_session(ctx.conn, workspace_id, new_session))

        return views.session(self.store.write(op))

    # ---- membership ---------------------------------------------------------------------------
    def _upsert_members(self, ctx: WriteContext, workspace_id: str, session_id: str,
                        peers: dict[str, schemas.SessionPeerConfig]) -> None:
        for peer_id, cfg in peers.items():
            peers_db.ensure_peer(ctx, workspace_id, peer_id)
            sessions_db.upsert_member(ctx, workspace_id, session_id, peer_id, cfg.observe_me, cfg.observe_others)
        self._check_observer_limit(ctx, workspace_id, session_id)

    @staticmethod
    def _check_observer_limit(ctx: WriteContext, workspace_id: str, session_id: str) -> None:
        observers = sessions_db.count_observers(ctx.conn, workspace_id, session_id)
        if observers > SESSION_OBSERVERS_LIMIT:
            raise BadRequest(
                f"a session may have at most {SESSION_OBSERVERS_LIMIT} peers with observe_others=true "
                f"(this change would make {observers})")

    def add_members(self, workspace_id: str, session_id: str, peers: dict[str, schemas.SessionPeerConfig],
                    replace: bool = False) -> dict[str, Any]:
        def op(ctx: WriteContext) -> sessions_db.Session:
            workspaces_db.ensure_workspace(ctx, workspace_id)
            sessions_db.ensure_session(ctx, workspace_id, session_id)
            self.require_session(ctx.conn, workspace_id, session_id)
            if replace:
                current = [m["peer_id"] for m in sessions_db.get_members(ctx.conn, workspace_id, session_id)]
                sessions_db.remove_members(ctx, workspace_id, session_id, [p for p in current if p not in peers])
            self._upsert_members(ctx, workspace_id, session_id, peers)
            return _written(sessions_db.get_session(ctx.conn, workspace_id, session_id))

        return views.session(self.store.write(op, scoped=True))

    def remove_members(self, workspace_id: str, session_id: str, peer_ids: list[str]) -> dict[str, Any]:
        def op(ctx: WriteContext) -> sessions_db.Session:
            row = self.require_session(ctx.conn, workspace_id, session_id)
            sessions_db.remove_members(ctx, workspace_id, session_id, peer_ids)
            return row

        return views.session(self.store.write(op, scoped=True))

    def list_members(self, workspace_id: str, session_id: str, paging: Paging) -> dict[str, Any]:
        def read(cur: Any) -> tuple[list[peers_db.Peer], int]:
            self.require_session(cur, workspace_id, session_id)
            return sessions_db.list_session_members(cur, workspace_id, session_id, paging.page, paging.size)

        rows, total = self.store.read(read)
        return views.page([views.peer(r) for r in rows], total, paging.page, paging.size)

    def is_member(self, workspace_id: str, session_id: str, peer_id: str) -> bool:
        """Whether the peer is an active member of the session (how far a peer's API key reaches: api/auth.py)."""
        return self.store.read(lambda cur: any(member["peer_id"] == peer_id
                                               for member in sessions_db.get_members(cur, workspace_id, session_id)))

    def _require_member(self, cur: Any, workspace_id: str, session_id: str, peer_id: str) -> dict[str, Any]:
        self.require_session(cur, workspace_id, session_id)
        for member in sessions_db.get_members(cur, workspace_id, session_id):
            if member["peer_id"] == peer_id:
                return member
        raise NotFound(f"peer {peer_id!r} is not a member of session {session_id!r}")

    def get_member_config(self, workspace_id: str, session_id: str, peer_id: str) -> dict[str, Any]:
        member = self.store.read(lambda cur: self._require_member(cur, workspace_id, session_id, peer_id))
        return {"observe_me": member["observe_me"], "observe_others": member["observe_others"]}

    def set_member_config(self, workspace_id: str, session_id: str, peer_id: str,
                          body: schemas.SessionPeerConfig) -> None:
        fields = set(body.model_fields_set)

        def op(ctx: WriteContext) -> None:
            self._require_member(ctx.conn, workspace_id, session_id, peer_id)
            sessions_db.set_member_config(ctx, workspace_id, session_id, peer_id, body.observe_me, body.observe_others,
                                   fields)
            self._check_observer_limit(ctx, workspace_id, session_id)

        self.store.write(op, scoped=True)
