"""One HTTP client to the v3 API for the MCP tools: JSON in, JSON out, `{"detail": ...}` errors as `ToolError`.

The workspace a tool works in is resolved here too: the tool's `workspace_id` argument, else the
connection's `X-Honcho-Workspace-ID` header (HTTP door only), else the `mcp_default_workspace` setting.
A workspace is got-or-created once per process before its first use, as Honcho's SDK does.

The API key the calls carry (`Authorization`, needed when the server runs with auth on): the one the MCP
client sent with the tool call (HTTP door: `ToolSet.ws` puts the connection's header in `CREDENTIAL`, which
lives as long as that one call's task), else the caller's own (`honcho-local mcp`: `--api-key`, the
`HONCHO_API_KEY` environment variable, or the owner token of the home's running server). So a tool can do
no more than the key it was called with.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import httpx
from mcp.server.mcpserver.exceptions import ToolError

WORKSPACE_HEADER = "x-honcho-workspace-id"
CREDENTIAL: ContextVar[str | None] = ContextVar("honcho_local_mcp_credential", default=None)
_TIMEOUT = httpx.Timeout(30.0, read=None)  # a chat waits for the one model as long as it takes


class V3:
    """The running server's v3 API, seen from a tool."""

    def __init__(self, base_url: str, default_workspace: str, transport: httpx.AsyncBaseTransport | None = None,
                 authorization: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.authorization = authorization  # `Bearer <key>` when no tool call brings one
        self.default_workspace = default_workspace
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=_TIMEOUT, transport=transport)
        self._known: set[str] = set()

    async def call(self, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """The route's JSON answer (None for an empty one); a `ToolError` with the server's detail otherwise."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            credential = CREDENTIAL.get() or self.authorization
            headers = {"Authorization": credential} if credential else None
            response = await self._client.request(method, path, json=body, params=query, headers=headers)
        except httpx.TransportError as exc:
            raise ToolError(f"the honcho-local server at {self.base_url} did not answer {method} {path}: "
                            f"{type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return response.json() if response.content else None
        try:
            detail = response.json()["detail"]
        except (ValueError, KeyError, TypeError):
            detail = response.text[:300]
        raise ToolError(f"{method} {path} answered HTTP {response.status_code}: {detail}")

    async def workspace(self, given: str | None, headers: Mapping[str, str] | None) -> str:
        """The workspace id a tool call works in, created if it is new."""
        workspace_id = given or (headers or {}).get(WORKSPACE_HEADER) or self.default_workspace
        if workspace_id not in self._known:
            await self.call("POST", "/v3/workspaces", {"id": workspace_id})
            self._known.add(workspace_id)
        return workspace_id

    async def pages(self, path: str, body: Any = None, size: int = 100) -> list[dict[str, Any]]:
        """Every item of a paginated list route (POST …/list or GET with `page`/`size`)."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            method = "GET" if body is None and not path.endswith("/list") else "POST"
            got = await self.call(method, path, body if method == "POST" else None, {"page": page, "size": size})
            items += got["items"]
            if page >= int(got.get("pages") or 1):
                return items
            page += 1

    async def aclose(self) -> None:
        await self._client.aclose()
