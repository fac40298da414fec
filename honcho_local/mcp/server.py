"""The MCP server of honcho-local: Honcho's tool set over one `V3` caller, for either door."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from honcho_local import __version__
from honcho_local.mcp.caller import V3
from honcho_local.mcp.peers import ConclusionTools, PeerTools
from honcho_local.mcp.sessions import SessionTools
from honcho_local.mcp.workspace import WorkspaceTools

INSTRUCTIONS = (
    "honcho-local: memory for agents. Write each conversation turn with add_messages_to_session; the server's "
    "worker reasons over it in the background (get_queue_status shows when it is done). Ask chat what is known "
    "about a peer, read get_peer_card or list_conclusions, and delete_conclusion what is wrong. workspace_id "
    "may be omitted: the connection's X-Honcho-Workspace-ID header or the server's default workspace is used.")
GROUPS = (WorkspaceTools, PeerTools, SessionTools, ConclusionTools)


def build(v3: V3) -> MCPServer:
    """The MCP server whose tools call the v3 API through `v3`."""
    server = MCPServer(name="honcho-local", version=__version__, instructions=INSTRUCTIONS)
    for group in GROUPS:
        group(v3).register(server)
    return server


def tool_names() -> list[str]:
    """Every tool's name, in the order they are listed."""
    return [name for group in GROUPS for name in group.NAMES]
