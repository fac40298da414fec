"""What every group of MCP tools shares: the v3 caller, the workspace resolution, JSON text results.

A group is a class whose public coroutine methods named in `NAMES` are the tools: the method's name is
the tool's name, its docstring the description, its signature the input schema (Honcho's argument
names). Each method takes the request `Context` to read the `X-Honcho-Workspace-ID` header.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from mcp.server.mcpserver import Context, MCPServer

from honcho_local.mcp.caller import CREDENTIAL, V3


def text(value: Any) -> str:
    """A tool's answer: JSON text, as Honcho's MCP server gives it (a plain string stays plain)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def seg(value: str) -> str:
    """One path segment, escaped (ids are checked by the server itself)."""
    return quote(value, safe="")


class ToolSet:
    """A group of tools over one `V3` caller."""

    NAMES: tuple[str, ...] = ()

    def __init__(self, v3: V3) -> None:
        self.v3 = v3

    async def ws(self, workspace_id: str | None, ctx: Context | None) -> str:
        """`/v3/workspaces/<id>` for the call's workspace (argument, header, then the default)."""
        headers = self.bind(ctx)
        return f"/v3/workspaces/{seg(await self.v3.workspace(workspace_id, headers))}"

    @staticmethod
    def bind(ctx: Context | None) -> dict[str, str] | None:
        """The request's headers (lowercased; None without a request); its `Authorization` becomes the key this
        tool call's API calls carry (`caller.CREDENTIAL`)."""
        headers = None
        if ctx is not None:
            try:
                headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}
            except ValueError:  # no request (a direct call)
                headers = None
        CREDENTIAL.set((headers or {}).get("authorization"))
        return headers

    def register(self, server: MCPServer) -> None:
        for name in self.NAMES:
            server.add_tool(getattr(self, name), name=name, structured_output=False)
