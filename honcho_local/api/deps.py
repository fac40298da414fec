"""Shared handler plumbing: the services dependency and paging query parameters."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.datastructures import State

from honcho_local.services.resources import Paging
from honcho_local.wiring import Services


def provide_services(state: State) -> Services:
    return state.services


def paging(page: int = 1, size: int = 50, reverse: bool = False) -> Paging:
    return Paging(page=page, size=size, reverse=reverse)


def created_or_ok(body: dict[str, Any], created: bool) -> Response[dict[str, Any]]:
    return Response(body, status_code=201 if created else 200)


async def optional_json(request: Request) -> Any:
    """Request body as JSON, or None when empty (the SDK posts empty bodies with a JSON content type)."""
    raw = await request.body()
    if not raw.strip():
        return None
    from litestar.serialization import decode_json

    return decode_json(raw)
