"""Shared handler plumbing: the services dependency and paging query parameters."""

from __future__ import annotations

from typing import Any

from litestar import Response
from litestar.datastructures import State
from litestar.params import FromQuery

from honcho_local.services.resources import Paging
from honcho_local.wiring import Services


def provide_services(state: State) -> Services:
    return state.services


def paging(page: FromQuery[int] = 1, size: FromQuery[int] = 50, reverse: FromQuery[bool] = False) -> Paging:
    return Paging(page=page, size=size, reverse=reverse)


def created_or_ok(body: dict[str, Any], created: bool) -> Response[dict[str, Any]]:
    return Response(body, status_code=201 if created else 200)
