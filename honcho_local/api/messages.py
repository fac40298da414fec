"""Message routes (#32, 34-36) and the event-log extension (`/events`: tool calls, custom events)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from honcho_local import schemas
from honcho_local.api.deps import Page, Size, held_or_thread
from honcho_local.services.resources import Paging
from honcho_local.wiring import Services

# Extension (issue 31): a retried write with the same key and body answers with what it stored (docs/api.md)
IdempotencyKey = Annotated[str | None, HeaderParameter(name="idempotency-key", required=False,
                                                       description="Extension: see docs/api.md")]


class MessageController(Controller):
    path = "/v3/workspaces/{workspace_id:str}/sessions/{session_id:str}"
    tags = ["messages"]

    @post(["/messages", "/messages/"], operation_id="create_messages", status_code=201)
    async def create(self, workspace_id: FromPath[str], session_id: FromPath[str], data: JSONBody[schemas.MessageBatch],
                     svc: NamedDependency[Services], idempotency_key: IdempotencyKey = None) -> list[dict[str, Any]]:
        # Validation is cheap and runs here; the commit happens in the writer thread, awaited
        # without occupying a worker thread.
        return await asyncio.wrap_future(svc.ingest.submit_messages(workspace_id, session_id, data, idempotency_key))

    # Answered on the event loop when memory holds the page (services/message_list.py), else in a thread.
    # Paging from its query parameters here, not the `paging` dependency: with two dependencies Litestar
    # resolves them in an anyio task group, a quarter of this route's time in process (issue 36).
    @post("/messages/list", operation_id="list_messages", status_code=200)
    async def list_(self, workspace_id: FromPath[str], session_id: FromPath[str], svc: NamedDependency[Services],
                    page: Page = 1, size: Size = 50, reverse: FromQuery[bool] = False,
                    data: JSONBody[schemas.ListBody | None] = None) -> dict[str, Any]:
        filters, paging = data.filters if data else None, Paging(page, size, reverse)
        return await held_or_thread(svc.message_list.held_page(workspace_id, session_id, filters, paging),
                                    svc.message_list.list, workspace_id, session_id, filters, paging)

    @get("/messages/{message_id:str}", operation_id="get_message", sync_to_thread=True)
    def get_(self, workspace_id: FromPath[str], session_id: FromPath[str], message_id: FromPath[str],
             svc: NamedDependency[Services]) -> dict[str, Any]:
        return svc.ingest.get_message(workspace_id, session_id, message_id)

    @put("/messages/{message_id:str}", operation_id="update_message", sync_to_thread=True)
    def update(self, workspace_id: FromPath[str], session_id: FromPath[str], message_id: FromPath[str],
               data: JSONBody[schemas.MessageUpdate], svc: NamedDependency[Services]) -> dict[str, Any]:
        return svc.ingest.update_message(workspace_id, session_id, message_id, data)

    @delete("/messages/{message_id:str}", operation_id="delete_message", status_code=204, sync_to_thread=True)
    def delete_(self, workspace_id: FromPath[str], session_id: FromPath[str], message_id: FromPath[str],
                svc: NamedDependency[Services]) -> None:
        """Extension to Honcho's API: the message and everything derived from it are forgotten."""
        svc.resources.forgetting.delete_message(workspace_id, session_id, message_id)

    @post("/events", operation_id="create_events", status_code=201, sync_to_thread=True)
    def create_events(self, workspace_id: FromPath[str], session_id: FromPath[str], data: JSONBody[schemas.EventBatch],
                      svc: NamedDependency[Services], idempotency_key: IdempotencyKey = None) -> list[dict[str, Any]]:
        return svc.ingest.add_events(workspace_id, session_id, data, idempotency_key)

    @post("/events/list", operation_id="list_events", status_code=200, sync_to_thread=True)
    def list_events(self, workspace_id: FromPath[str], session_id: FromPath[str], svc: NamedDependency[Services],
                    paging: NamedDependency[Paging], data: JSONBody[schemas.ListBody | None] = None) -> dict[str, Any]:
        kinds = ["message", "tool_call", "tool_result", "custom"]
        return svc.message_list.list(workspace_id, session_id, data.filters if data else None, paging, kinds)
