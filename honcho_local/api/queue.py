"""Queue status route (#6): how far the worker is behind, per work unit."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from honcho_local.wiring import Services


class QueueController(Controller):
    path = "/v3/workspaces/{workspace_id:str}/queue"
    tags = ["queue"]

    @get("/status", operation_id="get_queue_status", sync_to_thread=True)
    def status(self, workspace_id: FromPath[str], svc: NamedDependency[Services],
               observer_id: FromQuery[str | None] = None, sender_id: FromQuery[str | None] = None,
               session_id: FromQuery[str | None] = None) -> dict[str, Any]:
        return svc.queue_status(workspace_id, observer_id, sender_id, session_id)
