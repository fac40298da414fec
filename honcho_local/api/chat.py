"""Dialectic chat route (#12): `{"content": ...}` or an SSE stream (Honcho v3 §2.6)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
from litestar import Controller, Response, post
from litestar.response import Stream

from honcho_local.schemas_read import ChatBody, RecallBody
from honcho_local.wiring import Services


class ChatController(Controller):
    path = "/v3/workspaces/{workspace_id:str}/peers"
    tags = ["chat"]

    @post("/{peer_id:str}/chat", operation_id="peer_chat", status_code=200, sync_to_thread=True)
    def chat(self, workspace_id: str, peer_id: str, data: ChatBody, svc: Services) -> Response[Any]:
        prepared = svc.dialectic.prepare(workspace_id, peer_id, data)
        if data.stream:
            lines = svc.dialectic.stream(prepared, data.include_evidence)
            return Stream(_relay(lines), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        return Response(svc.dialectic.answer(prepared, data.include_evidence))

    @post("/{peer_id:str}/recall", operation_id="peer_recall", status_code=200, sync_to_thread=True)
    def recall(self, workspace_id: str, peer_id: str, data: RecallBody, svc: Services) -> dict[str, Any]:
        """honcho-local extension: the conclusions, card and ranked messages chat would use, no model call."""
        return svc.dialectic.recall(workspace_id, peer_id, data)


async def _relay(lines: Iterator[str]) -> AsyncIterator[str]:
    """Pull SSE lines in a worker thread; close the generator (releasing the model) on disconnect."""
    try:
        while (line := await anyio.to_thread.run_sync(next, lines, None)) is not None:
            yield line
    finally:  # `run_sync` waits for a running `next` even when cancelled, so closing is safe here
        await anyio.to_thread.run_sync(getattr(lines, "close", lambda: None))
