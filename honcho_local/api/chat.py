"""Dialectic chat routes: peer chat (#12) and workspace chat (Honcho 3.2), each `{"content": ...}` (with
`evidence` when asked) or an SSE stream (Honcho v3 §2.6)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import anyio
from litestar import Controller, Response, post
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import Stream

from honcho_local.api.scopes import scoped_filters
from honcho_local.errors import InvalidInput
from honcho_local.schemas_read import ChatBody, RecallBody, WorkspaceChatBody
from honcho_local.services.workspace_chat import WorkspaceChat
from honcho_local.wiring import Services

T = TypeVar("T")
B = TypeVar("B", ChatBody, RecallBody)


class ChatController(Controller):
    path = "/v3/workspaces/{workspace_id:str}/peers"
    tags = ["chat"]

    @post("/{peer_id:str}/chat", operation_id="peer_chat", status_code=200)
    async def chat(self, workspace_id: FromPath[str], peer_id: FromPath[str], data: JSONBody[ChatBody],
                   svc: NamedDependency[Services]) -> Response[Any]:
        # Retrieval runs on the request pool like any read; the model call (seconds, waiting for the one
        # model) runs on threads of its own, so requests queued for the model never hold the threads
        # every other read and write needs.
        prepared = await sync_to_thread(lambda: svc.dialectic.prepare(workspace_id, peer_id,
                                                                      _unscoped(svc, workspace_id, data)))
        return await _respond(svc, prepared, data)

    @post("/{peer_id:str}/recall", operation_id="peer_recall", status_code=200, sync_to_thread=True)
    def recall(self, workspace_id: FromPath[str], peer_id: FromPath[str], data: JSONBody[RecallBody],
               svc: NamedDependency[Services]) -> dict[str, Any]:
        """honcho-local extension: the conclusions, card and ranked messages chat would use, no model call."""
        return svc.dialectic.recall(workspace_id, peer_id, _unscoped(svc, workspace_id, data))


class WorkspaceChatController(Controller):
    path = "/v3/workspaces/{workspace_id:str}"
    tags = ["chat"]

    @post("/chat", operation_id="workspace_chat", status_code=200)
    async def chat(self, workspace_id: FromPath[str], data: JSONBody[WorkspaceChatBody],
                   svc: NamedDependency[Services]) -> Response[Any]:
        """Honcho 3.2: chat over everything the workspace holds (services/workspace_chat.py)."""
        if data.scope is not None and data.session_id is not None:
            raise InvalidInput("`scope` and `session_id` are mutually exclusive")

        def prepare() -> Any:  # the scope's sessions and the retrieval in one trip to a thread
            allow = None if data.scope is None else svc.scopes.sessions_of(workspace_id, data.scope)
            return WorkspaceChat(svc.dialectic).prepare(workspace_id, data, allow)

        prepared = await sync_to_thread(prepare)
        return await _respond(svc, prepared, data)


def _unscoped(svc: Services, workspace_id: str, data: B) -> B:
    """The body with its `scope` turned into the session allowlist (`filters`) it stands for."""
    if data.scope is None:
        return data
    filters = scoped_filters(svc, workspace_id, data.scope, data.filters, data.session_id)
    return data.model_copy(update={"filters": filters, "scope": None})


async def _respond(svc: Services, prepared: Any, data: Any) -> Response[Any]:
    """The model's answer to a prepared chat: one JSON body, or an SSE stream when `data.stream`."""
    if data.stream:
        lines = await _model_call(svc.dialectic.stream, prepared, data.include_evidence)
        return Stream(_relay(lines), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    return Response(await _model_call(svc.dialectic.answer, prepared, data.include_evidence))


_MODEL_THREADS = 32  # chat requests that may wait for (or hold) the model at once
_limiter: anyio.CapacityLimiter | None = None


async def _model_call(fn: Callable[..., T], *args: Any) -> T:
    global _limiter
    if _limiter is None:  # created in the event loop that uses it
        _limiter = anyio.CapacityLimiter(_MODEL_THREADS)
    return await anyio.to_thread.run_sync(fn, *args, limiter=_limiter)


async def _relay(lines: Iterator[str]) -> AsyncIterator[str]:
    """Pull SSE lines on the model threads; close the generator (releasing the model) on disconnect."""
    try:
        while (line := await _model_call(next, lines, None)) is not None:
            yield line
    finally:  # `run_sync` waits for a running `next` even when cancelled, so closing is safe here
        await _model_call(getattr(lines, "close", lambda: None))
