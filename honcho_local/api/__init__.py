"""Transport: the Litestar app. Thin controllers over the services; one error map."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.concurrency import set_asyncio_executor
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.pydantic import PydanticInitPlugin

from honcho_local import __version__, metrics
from honcho_local.api.admin import AdminController
from honcho_local.api.auth import SECURITY, SECURITY_COMPONENTS, Authority, KeyController, authorize, document_keys
from honcho_local.api.chat import ChatController, WorkspaceChatController
from honcho_local.api.conclusions import ConclusionController
from honcho_local.api.contract import ContractRequest, check_request_ids
from honcho_local.api.deps import paging, provide_services
from honcho_local.api.docs import assets_router, swagger_plugin
from honcho_local.api.dreams import DreamController
from honcho_local.api.errors import EXCEPTION_HANDLERS
from honcho_local.api.guard import cors_config
from honcho_local.api.messages import MessageController
from honcho_local.api.openapi_contract import document_contract
from honcho_local.api.peers import PeerController
from honcho_local.api.queue import QueueController
from honcho_local.api.reads import ReadController
from honcho_local.api.scopes import ScopeController
from honcho_local.api.sessions import SessionController
from honcho_local.api.status import server_status
from honcho_local.api.ui import ui_router
from honcho_local.api.upload import UploadController
from honcho_local.api.workspaces import WorkspaceController
from honcho_local.wiring import Services


@get("/health", operation_id="health", include_in_schema=True, security=[{}])  # open with API keys on too
async def health(request: Request) -> Response[dict[str, Any]]:
    """200 `{"status": "ok"}`; 503 `{"status": "degraded", "problem", "detail", "since"}` while the store
    cannot take writes (a full disk, a database being reopened: docs/admin.md)."""
    problem = request.app.state.services.store.health.snapshot()
    if problem is None:
        return Response({"status": "ok"})
    return Response({"status": "degraded", **problem}, status_code=503)


@get("/metrics", operation_id="metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response[bytes]:
    if not request.app.state.services.settings.metrics_enabled:
        return Response({"detail": "Metrics are disabled"}, status_code=404)  # type: ignore[arg-type]
    return Response(metrics.render(), media_type="text/plain; version=0.0.4")


class TimingMiddleware:
    """ASGI middleware: server-side latency per route template into `honcho_http_request_seconds`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Any) -> None:
            # `Server-Timing: app;dur=<ms>`: time until the response starts (benchmarks read it).
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={elapsed:.3f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            handler = scope.get("route_handler")
            route = getattr(handler, "operation_id", None) or "unmatched"
            metrics.REQUEST_SECONDS.labels(route if isinstance(route, str) else "other").observe(
                time.perf_counter() - started)


async def _watch_loop_lag(interval: float = 0.05) -> None:
    while True:
        started = time.perf_counter()
        await asyncio.sleep(interval)
        metrics.EVENT_LOOP_LAG_SECONDS.observe(max(0.0, time.perf_counter() - started - interval))


@contextlib.asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    watcher = asyncio.create_task(_watch_loop_lag())
    try:
        yield
    finally:
        watcher.cancel()


@get("/openapi.json", operation_id="openapi_json", include_in_schema=False)
async def openapi_json(request: Request) -> dict[str, Any]:
    return request.app.openapi_schema.to_schema()


def create_app(services: Services, on_shutdown: list[Any] | None = None, http_threads: int = 0) -> Litestar:
    """The app over built services. `http_threads` > 0 sizes the pool that runs sync handlers (call it
    before the event loop starts; 0 keeps Python's default executor)."""
    if http_threads:
        set_asyncio_executor(ThreadPoolExecutor(max_workers=http_threads, thread_name_prefix="http"))
    authority = Authority.from_settings(services.settings)
    app = Litestar(
        route_handlers=[health, metrics_endpoint, openapi_json, WorkspaceController, PeerController, SessionController,
                        MessageController, QueueController, ReadController, ConclusionController,
                        ScopeController, WorkspaceChatController, DreamController, UploadController,
                        ChatController, server_status, AdminController, KeyController, assets_router(), ui_router()],
        dependencies={"svc": Provide(provide_services, sync_to_thread=False),
                      "paging": Provide(paging, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=check_request_ids,
        # API keys when auth is on (api/auth.py). Registered only then: Litestar calls each guard with a copy
        # of the route handler (`copy.copy`), 10% of the event loop's time on a card request under 16
        # clients even when the guard returns at once (issue 36, docs/decisions/001-message-list.md)
        guards=[authorize] if authority is not None else [],
        request_class=ContractRequest,
        openapi_config=OpenAPIConfig(title="honcho-local", version=__version__, path="/docs",
                                     render_plugins=[swagger_plugin()], components=SECURITY_COMPONENTS,
                                     security=SECURITY),
        cors_config=cors_config(services.settings.cors_origins),
        on_shutdown=on_shutdown or [],
        lifespan=[_lifespan],
        middleware=[TimingMiddleware],
        # the process's logging is `serve`'s (its level, its format): Litestar's default config set the
        # root logger to INFO, so `log_level = "warning"` still wrote a line per worker task
        logging_config=None,
        # strict=None: let each model's own rules apply (Litestar's default forces lax mode,
        # which would accept "yes" for a StrictBool).
        plugins=[PydanticInitPlugin(validate_strict=None)],  # type: ignore[arg-type]
        debug=False,
    )
    document_contract(app.openapi_schema, services.settings.auth_use_auth)  # every status the server sends
    app.state.services = services
    app.state.authority = authority
    if app.state.authority is not None:
        document_keys(app.openapi_schema)  # the 401 of every route that needs a key
    return app
