"""Conclusion routes (#37-40) plus `GET W/conclusions/{id}` (SDK 2.7.0 `get`) and the provenance extension
`GET W/conclusions/{id}/sources` (the memory inspector's; docs/api.md)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from honcho_local.api.deps import cache_first
from honcho_local.schemas import ListBody
from honcho_local.schemas_read import ConclusionBatch, ConclusionQuery
from honcho_local.services.resources import Paging
from honcho_local.wiring import Services


class ConclusionController(Controller):
    path = "/v3/workspaces/{workspace_id:str}/conclusions"
    tags = ["conclusions"]

    @post("/", operation_id="create_conclusions", status_code=201, sync_to_thread=True)
    def create(self, workspace_id: FromPath[str], data: JSONBody[ConclusionBatch], svc: NamedDependency[Services],
               version: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        return svc.conclusions.create(workspace_id, data.conclusions, version)

    @post("/list", operation_id="list_conclusions", status_code=200, sync_to_thread=True)
    def list_(self, workspace_id: FromPath[str], svc: NamedDependency[Services], paging: NamedDependency[Paging],
              data: JSONBody[ListBody | None] = None, as_of: FromQuery[str | None] = None,
              version: FromQuery[str | None] = None) -> dict[str, Any]:
        return svc.conclusions.list(workspace_id, data.filters if data else None, paging, version, as_of)

    @post("/query", operation_id="query_conclusions", status_code=200)
    async def query(self, workspace_id: FromPath[str], data: JSONBody[ConclusionQuery], svc: NamedDependency[Services],
                    version: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        return await cache_first(svc.read_cache, svc.conclusions.query_read(workspace_id, data.query, data.top_k,
                                                                           data.distance, data.filters, version))

    @get("/{conclusion_id:str}", operation_id="get_conclusion", sync_to_thread=True)
    def get_(self, workspace_id: FromPath[str], conclusion_id: FromPath[str],
             svc: NamedDependency[Services]) -> dict[str, Any]:
        return svc.conclusions.get(workspace_id, conclusion_id)

    @get("/{conclusion_id:str}/sources", operation_id="get_conclusion_sources", sync_to_thread=True,
         tags=["extension"], summary="honcho-local extension: a conclusion's version, source messages and premises")
    def sources(self, workspace_id: FromPath[str], conclusion_id: FromPath[str],
                svc: NamedDependency[Services]) -> dict[str, Any]:
        return svc.conclusions.sources(workspace_id, conclusion_id)

    @delete("/{conclusion_id:str}", operation_id="delete_conclusion", status_code=204, sync_to_thread=True)
    def delete_(self, workspace_id: FromPath[str], conclusion_id: FromPath[str],
                svc: NamedDependency[Services]) -> None:
        svc.conclusions.delete(workspace_id, conclusion_id)
