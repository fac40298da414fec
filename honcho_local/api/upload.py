"""`POST /v3/workspaces/{w}/sessions/{s}/messages/upload` (Honcho 3.x): a multipart file becomes messages.

The form is Honcho's: `file`, `peer_id`, and optional `metadata` and `configuration` (JSON text) and
`created_at` (ISO-8601). How a file is read and split: `services/uploads.py`. The request guard lets
`multipart/form-data` through on this path alone (`api/guard.py`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, post
from litestar.concurrency import sync_to_thread
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath

from honcho_local.services.uploads import upload_batch
from honcho_local.wiring import Services


@dataclass
class UploadForm:
    file: UploadFile
    peer_id: str
    metadata: str | None = None
    configuration: str | None = None
    created_at: str | None = None


class UploadController(Controller):
    path = "/v3/workspaces/{workspace_id:str}/sessions/{session_id:str}/messages"
    tags = ["messages"]

    @post("/upload", operation_id="upload_messages", status_code=201)
    async def upload(self, workspace_id: FromPath[str], session_id: FromPath[str], svc: NamedDependency[Services],
                     data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)],
                     ) -> list[dict[str, Any]]:
        content = await data.file.read()
        form = {"peer_id": data.peer_id, "metadata": data.metadata, "configuration": data.configuration,
                "created_at": data.created_at}
        batch = await sync_to_thread(upload_batch, content, data.file.content_type, form,
                                     svc.ingest.max_message_size)
        return await asyncio.wrap_future(svc.ingest.submit_messages(workspace_id, session_id, batch))
