"""Shared handler plumbing: the services dependency and paging query parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from litestar import Response
from litestar.concurrency import sync_to_thread
from litestar.datastructures import State
from litestar.params import FromQuery, QueryParameter

from honcho_local.nonblocking import WouldBlock, nonblocking
from honcho_local.services.resources import MAX_PAGE, MAX_SIZE, Paging
from honcho_local.wiring import Services


def provide_services(state: State) -> Services:
    return state.services


# Bounds Litestar checks (422 naming the parameter) and the OpenAPI document states; `Paging` checks them too.
Page = Annotated[int, QueryParameter(name="page", ge=1, le=MAX_PAGE, description="1-based page number")]
Size = Annotated[int, QueryParameter(name="size", ge=1, le=MAX_SIZE, description="items per page")]


def paging(page: Page = 1, size: Size = 50, reverse: FromQuery[bool] = False) -> Paging:
    return Paging(page=page, size=size, reverse=reverse)


def created_or_ok(body: dict[str, Any], created: bool) -> Response[dict[str, Any]]:
    return Response(body, status_code=201 if created else 200)


T = TypeVar("T")


async def in_memory_or_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` on the event loop when it answers from memory, else in a handler thread
    (`honcho_local.nonblocking`). Measured with 8 clients: docs/notes/measurement-log-2026-11.md, session 7 notes."""
    try:
        with nonblocking():
            return fn(*args, **kwargs)
    except WouldBlock:
        pass
    return await sync_to_thread(fn, *args, **kwargs)
