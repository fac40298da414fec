"""`GET /status` (a honcho-local extension beside `/health` and `/metrics`, not part of Honcho's API):
the queue across workspaces with the units running and their step, the configured models, and the
worker's recent throughput. Read-only, like the v3 reads. `honcho-local status` prints it;
docs/worker.md describes the fields."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from honcho_local import __version__
from honcho_local.wiring import Services


@get("/status", operation_id="get_server_status", sync_to_thread=True, tags=["extension"],
     summary="honcho-local extension: queue, models and recent throughput across workspaces")
def server_status(svc: NamedDependency[Services], minutes: FromQuery[float] = 15.0) -> dict[str, Any]:
    return {"honcho_local": __version__, **svc.server_status(minutes)}
