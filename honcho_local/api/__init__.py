"""Transport: the Litestar app. Thin controllers over the services; one error map."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar, Request, get
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.pydantic import PydanticInitPlugin

from honcho_local import __version__
from honcho_local.api.deps import paging, provide_services
from honcho_local.api.errors import EXCEPTION_HANDLERS
from honcho_local.api.messages import MessageController
from honcho_local.api.peers import PeerController
from honcho_local.api.sessions import SessionController
from honcho_local.api.workspaces import WorkspaceController
from honcho_local.errors import InvalidInput
from honcho_local.wiring import Services

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,512}$")
_NAMED_PARAMS = ("workspace_id", "peer_id", "session_id")


def check_path_names(request: Request) -> None:
    """Reject ids in the path that break Honcho's id rules before any handler runs."""
    for key in _NAMED_PARAMS:
        value = request.path_params.get(key)
        if value is not None and not _NAME.match(value):
            raise InvalidInput(f"{key} may contain only letters, digits, '_' and '-' (1-512 characters)")


@get("/health", operation_id="health", include_in_schema=True)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/openapi.json", operation_id="openapi_json", include_in_schema=False)
async def openapi_json(request: Request) -> dict[str, Any]:
    return request.app.openapi_schema.to_schema()


def create_app(services: Services, on_shutdown: list[Any] | None = None) -> Litestar:
    app = Litestar(
        route_handlers=[health, openapi_json, WorkspaceController, PeerController, SessionController,
                        MessageController],
        dependencies={"svc": Provide(provide_services, sync_to_thread=False),
                      "paging": Provide(paging, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=check_path_names,
        openapi_config=OpenAPIConfig(title="honcho-local", version=__version__, path="/docs",
                                     render_plugins=[SwaggerRenderPlugin()]),
        cors_config=CORSConfig(allow_origins=["http://localhost", "http://127.0.0.1:8000"]),
        on_shutdown=on_shutdown or [],
        # strict=None: let each model's own rules apply (Litestar's default forces lax mode,
        # which would accept "yes" for a StrictBool).
        plugins=[PydanticInitPlugin(validate_strict=None)],  # type: ignore[arg-type]
        debug=False,
    )
    app.state.services = services
    return app
