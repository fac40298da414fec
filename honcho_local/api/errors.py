"""One map from errors to HTTP: every failure answers `{"detail": "<readable string>"}`."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from honcho_local.errors import (
    BadRequest,
    Conflict,
    HonchoLocalError,
    InvalidInput,
    ModelError,
    ModelUnavailable,
    NotFound,
    PayloadTooLarge,
    StorageFull,
    StoreLocked,
    StoreUnavailable,
    UnsupportedMediaType,
)

log = logging.getLogger(__name__)

STATUS = {
    InvalidInput: 422,
    BadRequest: 400,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    ModelUnavailable: 503,
    ModelError: 502,
    StoreLocked: 503,
    StorageFull: 507,
    StoreUnavailable: 503,
}


def status_for(exc: HonchoLocalError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def detail(status: int, text: str) -> Response[Any]:
    return Response({"detail": text}, status_code=status, media_type="application/json")


def domain_error(_: Request, exc: HonchoLocalError) -> Response[Any]:
    return detail(status_for(exc), exc.detail)


def _describe(extra: Any) -> str:
    """Litestar's validation `extra` (a list of {message, key, source}) as one sentence."""
    if not isinstance(extra, list) or not extra:
        return ""
    parts = []
    for item in extra:
        if isinstance(item, dict):
            key, message = item.get("key"), item.get("message", "")
            parts.append(f"{key}: {message}" if key else str(message))
        else:
            parts.append(str(item))
    return "; ".join(parts)


def validation_error(_: Request, exc: ValidationException) -> Response[Any]:
    text = _describe(exc.extra) or str(exc.detail)
    if "json" in str(exc.detail).lower() and "decode" in str(exc.detail).lower():
        text = f"malformed JSON body: {exc.detail}"
    return detail(422, text or "invalid request")


def http_error(_: Request, exc: HTTPException) -> Response[Any]:
    text = str(exc.detail) if exc.detail else "error"
    if exc.status_code == 400:
        if exc.extra:
            return detail(422, _describe(exc.extra) or text)
        return detail(400, f"malformed request body (expected JSON): {text}")
    return Response({"detail": text}, status_code=exc.status_code, headers=exc.headers or None,
                    media_type="application/json")


UNEXPECTED = "An unexpected error occurred"


def unexpected_error(_: Request, exc: Exception) -> Response[Any]:
    log.exception("unhandled error", exc_info=exc)
    return detail(500, UNEXPECTED)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    HonchoLocalError: domain_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
