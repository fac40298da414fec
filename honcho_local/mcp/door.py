"""The HTTP door: the MCP server's streamable HTTP app, mounted at `/mcp` in the served ASGI app.

`serve` puts `McpMount` inside the request guard (`api.guard.serving_app`), so `/mcp` gets the same Host
and Origin checks as every route; the SDK's own DNS-rebinding check is off, as it would know neither the
`allowed_hosts` nor the `cors_origins` setting. Streamable HTTP needs nothing else from the guard: its
POSTs carry `application/json`, its GET (the server's event stream) and DELETE (end of session) carry no
body. The SDK's session manager runs for the life of the served app: it is entered on the ASGI lifespan
startup, around the app's own lifespan, as Starlette's lifespan would have done.

The tools call the server's own loopback URL (`caller.V3`), exactly as `honcho-local mcp` does: one
implementation, one code path through the guard and the message fast path, no in-process shortcut that
could drift from what an HTTP client gets.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from honcho_local.mcp.caller import V3
from honcho_local.mcp.server import build

PATH = "/mcp"


class McpMount:
    """ASGI app: `/mcp` (and below) goes to the MCP app, everything else to `app`."""

    def __init__(self, app: Any, server: MCPServer) -> None:
        self.app = app
        self.mcp_app = server.streamable_http_app(
            streamable_http_path=PATH,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        self.manager = server.session_manager

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            async with self.manager.run():
                await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == PATH or path.startswith(PATH + "/")):
            await self.mcp_app(scope, receive, send)
            return
        await self.app(scope, receive, send)


def mounted(url: str, default_workspace: str) -> Any:
    """A wrapper for `serving_app`: puts `/mcp` in front of the app, its tools calling `url`."""
    server = build(V3(url, default_workspace))
    return lambda app: McpMount(app, server)
