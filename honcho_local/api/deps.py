"""Shared handler plumbing: the services dependency and paging query parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from litestar import Response
from litestar.concurrency import sync_to_thread
from litestar.datastructures import State
from litestar.params import FromQuery, QueryParameter

from honcho_local.services.readcache import MISS, Read, ReadCache
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


async def cache_first(cache: ReadCache, read: Read[T]) -> T:
    """`read` answered on the event loop when the read cache holds it (a fraction of a millisecond of
    Python, which a handler thread's round trip would double), else computed in a handler thread
    (`services/readcache.py`). Measured with 8 clients: docs/notes/measurement-log-2026-11.md, session 7."""
    held: T = cache.peek(read.key)
    if held is not MISS:
        return held
    return await sync_to_thread(cache.answer, read)


async def held_or_thread(held: T | None, fn: Callable[..., T], *args: Any) -> T:
    """`held` (an answer from memory), or `fn(*args)` in a handler thread when memory did not hold it."""
    return held if held is not None else await sync_to_thread(fn, *args)
