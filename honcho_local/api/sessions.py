"""Session routes (#18-28 of the v3 route table): sessions and their membership."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from honcho_local import schemas
from honcho_local.api.contract import check_names
from honcho_local.api.deps import created_or_ok
from honcho_local.services.resources import Paging
from honcho_local.wiring import Services

Members = dict[str, schemas.SessionPeerConfig]


class SessionController(Controller):
    path = "/v3/workspaces/{workspace_id:str}/sessions"
    tags = ["sessions"]

    @post("/", operation_id="get_or_create_session", sync_to_thread=True)
    def get_or_create(self, workspace_id: FromPath[str], data: JSONBody[schemas.SessionCreate],
                      svc: NamedDependency[Services]) -> Response[dict[str, Any]]:
        return created_or_ok(*svc.resources.get_or_create_session(workspace_id, data))

    @post("/list", operation_id="list_sessions", status_code=200, sync_to_thread=True)
    def list_(self, workspace_id: FromPath[str], svc: NamedDependency[Services], paging: NamedDependency[Paging],
              data: JSONBody[schemas.ListBody | None] = None) -> dict[str, Any]:
        return svc.resources.list_sessions(workspace_id, data.filters if data else None, paging)

    @put("/{session_id:str}", operation_id="update_session", sync_to_thread=True)
    def update(self, workspace_id: FromPath[str], session_id: FromPath[str], data: JSONBody[schemas.ResourceUpdate],
               svc: NamedDependency[Services]) -> dict[str, Any]:
        return svc.resources.update_session(workspace_id, session_id, data)

    @delete("/{session_id:str}", operation_id="delete_session", status_code=202, sync_to_thread=True)
    def delete_(self, workspace_id: FromPath[str], session_id: FromPath[str],
                svc: NamedDependency[Services]) -> dict[str, Any]:
        svc.resources.delete_session(workspace_id, session_id)
        return {"message": "Session deleted successfully"}

    @post("/{session_id:str}/clone", operation_id="clone_session", status_code=201, sync_to_thread=True)
    def clone(self, workspace_id: FromPath[str], session_id: FromPath[str], svc: NamedDependency[Services],
              message_id: FromQuery[str | None] = None) -> dict[str, Any]:
        return svc.resources.clone_session(workspace_id, session_id, message_id)

    @post("/{session_id:str}/peers", operation_id="add_session_peers", status_code=200, sync_to_thread=True)
    def add_peers(self, workspace_id: FromPath[str], session_id: FromPath[str], data: JSONBody[Members],
                  svc: NamedDependency[Services]) -> dict[str, Any]:
        check_names(data, "peer_id")
        return svc.resources.add_members(workspace_id, session_id, data)

    @put("/{session_id:str}/peers", operation_id="set_session_peers", sync_to_thread=True)
    def set_peers(self, workspace_id: FromPath[str], session_id: FromPath[str], data: JSONBody[Members],
                  svc: NamedDependency[Services]) -> dict[str, Any]:
        check_names(data, "peer_id")
        return svc.resources.add_members(workspace_id, session_id, data, replace=True)

    @delete("/{session_id:str}/peers", operation_id="remove_session_peers", status_code=200, sync_to_thread=True)
    def remove_peers(self, workspace_id: FromPath[str], session_id: FromPath[str], svc: NamedDependency[Services],
                     data: JSONBody[list[schemas.Name]]) -> dict[str, Any]:
        check_names(data, "peer_id")
        return svc.resources.remove_members(workspace_id, session_id, data)

    @get("/{session_id:str}/peers", operation_id="list_session_peers", sync_to_thread=True)
    def list_peers(self, workspace_id: FromPath[str], session_id: FromPath[str], svc: NamedDependency[Services],
                   paging: NamedDependency[Paging]) -> dict[str, Any]:
        return svc.resources.list_members(workspace_id, session_id, paging)

    @get("/{session_id:str}/peers/{peer_id:str}/config", operation_id="get_session_peer_config",
         sync_to_thread=True)
    def get_config(self, workspace_id: FromPath[str], session_id: FromPath[str], peer_id: FromPath[str],
                   svc: NamedDependency[Services]) -> dict[str, Any]:
        return svc.resources.get_member_config(workspace_id, session_id, peer_id)

    @put("/{session_id:str}/peers/{peer_id:str}/config", operation_id="set_session_peer_config",
         status_code=204, sync_to_thread=True)
    def set_config(self, workspace_id: FromPath[str], session_id: FromPath[str], peer_id: FromPath[str],
                   data: JSONBody[schemas.SessionPeerConfig], svc: NamedDependency[Services]) -> None:
        svc.resources.set_member_config(workspace_id, session_id, peer_id, data)
