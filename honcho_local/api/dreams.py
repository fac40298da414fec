"""`POST /v3/workspaces/{w}/schedule_dream` (Honcho 3.x): a dream for one observer/observed pair, queued for
the worker (run at once when the server has none).

What a dream does here, and what it does not, is in `services/dreams.py`; the answer is Honcho's 204.
"""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from honcho_local.schemas_read import ScheduleDreamBody
from honcho_local.wiring import Services


class DreamController(Controller):
    path = "/v3/workspaces/{workspace_id:str}"
    tags = ["dreams"]

    @post("/schedule_dream", operation_id="schedule_dream", status_code=204, sync_to_thread=True)
    def schedule_dream(self, workspace_id: FromPath[str], data: JSONBody[ScheduleDreamBody],
                       svc: NamedDependency[Services]) -> None:
        svc.dreams.schedule(workspace_id, data)
