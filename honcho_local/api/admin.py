"""Admin routes (honcho-local extensions, not part of Honcho's API): representation versions and backups,
so that `honcho-local versions …` and `honcho-local backup` work while `serve` holds the DuckDB file.

They write files and change what reads return, and any web page the user opens can reach a loopback
server: every request must carry `Authorization: Bearer <token>`, the token `serve` wrote to
`<home>/server.json` (0600, `honcho_local.serverinfo`) or, with auth on, an admin API key (`api/auth.py`),
and every POST a JSON body. Otherwise 401 or
415 with `{"detail": ...}`, before anything runs. An app without a token (built outside `serve`)
refuses them all. docs/admin.md describes the routes.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from litestar import Controller, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from honcho_local.api.auth import is_admin
from honcho_local.errors import InvalidInput
from honcho_local.services import versions
from honcho_local.services.backup import backup_open
from honcho_local.wiring import Services

UNAUTHORIZED = ("admin routes need `Authorization: Bearer <token>` with the admin token that "
                "`honcho-local serve` wrote to <home>/server.json")


async def require_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The admin token (constant-time compare) on every request, a JSON body on every POST."""
    token = getattr(connection.app.state, "admin_token", None)
    scheme, _space, given = connection.headers.get("authorization", "").partition(" ")
    bearer, given = scheme.lower() == "bearer", given.strip()
    owner = bool(token) and bearer and hmac.compare_digest(given.encode(), str(token).encode())
    if not owner and not (bearer and is_admin(connection, given)):  # with auth on, an admin key too
        raise NotAuthorizedException(detail=UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
    media = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    scope = connection.scope
    if scope["type"] == ScopeType.HTTP and scope["method"] == "POST" and media != "application/json":
        raise HTTPException(status_code=415, detail="admin requests take a JSON body (Content-Type: application/json)")


class BackupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directory: str = Field(description="Absolute path of a new or empty folder on the server's machine.")
    vectors: bool = Field(True, description="Keep the embedding vectors (false: `restore` embeds the texts again).")


def _follow_default(svc: Services) -> str:
    """After an activation or rollback: the server's default version is the new default for reads. Reads pick
    it at once (activations are unscoped writes: the read cache drops what it kept); queue status follows."""
    svc.version = svc.store.read(versions.default_version)
    return svc.version


class AdminController(Controller):
    path = "/admin"
    tags = ["admin", "extension"]
    guards = [require_admin]

    @get("/versions", operation_id="admin_list_versions", sync_to_thread=True,
         summary="honcho-local extension: every representation version; `default` marks the one reads use")
    def list_versions(self, svc: NamedDependency[Services]) -> list[dict[str, Any]]:
        return svc.store.read(versions.list_versions)

    @post("/versions/{name:str}/activate", operation_id="admin_activate_version", status_code=200,
          sync_to_thread=True, summary="honcho-local extension: make a version the default for reads")
    def activate(self, name: FromPath[str], svc: NamedDependency[Services]) -> dict[str, str]:
        versions.activate(svc.store, name)
        return {"default": _follow_default(svc)}

    @post("/versions/rollback", operation_id="admin_rollback_version", status_code=200, sync_to_thread=True,
          summary="honcho-local extension: make the previous default version the default again")
    def rollback(self, svc: NamedDependency[Services]) -> dict[str, str]:
        versions.rollback(svc.store)
        return {"default": _follow_default(svc)}

    @post("/backup", operation_id="admin_backup", status_code=201, sync_to_thread=True,
          summary="honcho-local extension: back up the store to a folder while the server goes on serving")
    def backup(self, data: JSONBody[BackupRequest], svc: NamedDependency[Services]) -> dict[str, Any]:
        directory = Path(data.directory)
        if not directory.is_absolute():
            raise InvalidInput(f"directory must be an absolute path, not {data.directory!r}")
        return {"directory": str(directory), **backup_open(svc.store, directory, vectors=data.vectors)}
