"""Peer routes (#8-11 of the v3 route table)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from honcho_local import schemas
from honcho_local.api.deps import created_or_ok
from honcho_local.services import views
from honcho_local.services.resources import Paging
from honcho_local.wiring import Services


class PeerController(Controller):
    path = "/v3/workspaces/{workspace_id:str}/peers"
    tags = ["peers"]

    @post("/", operation_id="get_or_create_peer", sync_to_thread=True)
    def get_or_create(self, workspace_id: FromPath[str], data: JSONBody[schemas.PeerCreate],
                      svc: NamedDependency[Services]) -> Response[dict[str, Any]]:
        return created_or_ok(*svc.resources.get_or_create_peer(workspace_id, data))

    @post("/list", operation_id="list_peers", status_code=200, sync_to_thread=True)
    def list_(self, workspace_id: FromPath[str], svc: NamedDependency[Services], paging: NamedDependency[Paging],
              data: JSONBody[schemas.PeerListBody | None] = None) -> dict[str, Any]:
        if data is not None and data.kind == "scope":  # scope peers only: honcho-local has none (api/scopes.py)
            return views.page([], 0, paging.page, paging.size)
        return svc.resources.list_peers(workspace_id, data.filters if data else None, paging)

    @put("/{peer_id:str}", operation_id="update_peer", sync_to_thread=True)
    def update(self, workspace_id: FromPath[str], peer_id: FromPath[str], data: JSONBody[schemas.PeerUpdate],
               svc: NamedDependency[Services]) -> dict[str, Any]:
        return svc.resources.update_peer(workspace_id, peer_id, data)

    @delete("/{peer_id:str}", operation_id="delete_peer", status_code=204, sync_to_thread=True)
    def delete_(self, workspace_id: FromPath[str], peer_id: FromPath[str], svc: NamedDependency[Services]) -> None:
        """Extension to Honcho's API: the peer, its messages and everything derived from them are forgotten."""
        svc.resources.forgetting.delete_peer(workspace_id, peer_id)

    @post("/{peer_id:str}/sessions", operation_id="list_peer_sessions", status_code=200, sync_to_thread=True)
    def sessions(self, workspace_id: FromPath[str], peer_id: FromPath[str], svc: NamedDependency[Services],
                 paging: NamedDependency[Paging], data: JSONBody[schemas.ListBody | None] = None) -> dict[str, Any]:
        return svc.resources.peer_sessions(workspace_id, peer_id, data.filters if data else None, paging)
