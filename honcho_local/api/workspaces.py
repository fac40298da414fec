"""Workspace routes (#1-4 of the v3 route table)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from honcho_local import schemas
from honcho_local.api.deps import created_or_ok
from honcho_local.services.resources import Paging
from honcho_local.wiring import Services


class WorkspaceController(Controller):
    path = "/v3/workspaces"
    tags = ["workspaces"]

    @post("/", operation_id="get_or_create_workspace", sync_to_thread=True)
    def get_or_create(self, data: JSONBody[schemas.WorkspaceCreate],
                      svc: NamedDependency[Services]) -> Response[dict[str, Any]]:
        return created_or_ok(*svc.resources.get_or_create_workspace(data))

    @post("/list", operation_id="list_workspaces", status_code=200, sync_to_thread=True)
    def list_(self, svc: NamedDependency[Services], paging: NamedDependency[Paging],
              data: JSONBody[schemas.ListBody | None] = None) -> dict[str, Any]:
        return svc.resources.list_workspaces(data.filters if data else None, paging)

    @put("/{workspace_id:str}", operation_id="update_workspace", sync_to_thread=True)
    def update(self, workspace_id: FromPath[str], data: JSONBody[schemas.ResourceUpdate],
               svc: NamedDependency[Services]) -> dict[str, Any]:
        return svc.resources.update_workspace(workspace_id, data)

    @delete("/{workspace_id:str}", operation_id="delete_workspace", status_code=202, sync_to_thread=True)
    def delete_(self, workspace_id: FromPath[str], svc: NamedDependency[Services]) -> dict[str, Any]:
        svc.resources.delete_workspace(workspace_id)
        return {"message": "Workspace deletion accepted"}
