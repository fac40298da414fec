"""Workspace and system tools: list_workspaces, create_workspace, inspect_workspace, search, get_metadata,
set_metadata, get_queue_status, schedule_dream."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context

from honcho_local.mcp.toolset import ToolSet, seg, text


class WorkspaceTools(ToolSet):
    NAMES = ("list_workspaces", "create_workspace", "inspect_workspace", "search", "get_metadata", "set_metadata",
             "get_queue_status", "schedule_dream")

    async def list_workspaces(self, ctx: Context) -> str:
        """List all workspaces. Returns an array of workspace IDs."""
        self.bind(ctx)
        items = await self.v3.pages("/v3/workspaces/list", {})
        return text([{"id": item["id"]} for item in items])

    async def create_workspace(self, workspace_id: str, ctx: Context, metadata: dict[str, Any] | None = None) -> str:
        """Get or create a workspace with the given ID. Returns the workspace."""
        self.bind(ctx)
        body: dict[str, Any] = {"id": workspace_id}
        if metadata is not None:
            body["metadata"] = metadata
        return text(await self.v3.call("POST", "/v3/workspaces", body))

    async def inspect_workspace(self, ctx: Context, workspace_id: str | None = None) -> str:
        """Inspect a workspace at a glance: its metadata, configuration, peer IDs and session IDs."""
        base = await self.ws(workspace_id, ctx)
        found = await self.v3.call("POST", "/v3/workspaces", {"id": base.rsplit("/", 1)[1]})
        peers = await self.v3.pages(f"{base}/peers/list", {})
        sessions = await self.v3.pages(f"{base}/sessions/list", {})
        return text({"workspace_id": found["id"], "metadata": found.get("metadata", {}),
                     "configuration": found.get("configuration", {}),
                     "peers": [{"id": p["id"]} for p in peers], "sessions": [{"id": s["id"]} for s in sessions]})

    async def search(self, query: str, ctx: Context, workspace_id: str | None = None, peer_id: str | None = None,
                     session_id: str | None = None, limit: int = 10) -> str:
        """Search messages: the whole workspace, or only a peer's (peer_id) or a session's (session_id).
        Returns the matching messages with their content, peer and session."""
        base = await self.ws(workspace_id, ctx)
        where = (f"/sessions/{seg(session_id)}" if session_id else f"/peers/{seg(peer_id)}" if peer_id else "")
        return text(await self.v3.call("POST", f"{base}{where}/search", {"query": query, "limit": limit}))

    async def _target(self, base: str, peer_id: str | None, session_id: str | None) -> tuple[str, str, dict]:
        """(the update path, the get-or-create path, its body) of the thing whose metadata is meant."""
        if session_id:
            return f"{base}/sessions/{seg(session_id)}", f"{base}/sessions", {"id": session_id}
        if peer_id:
            return f"{base}/peers/{seg(peer_id)}", f"{base}/peers", {"id": peer_id}
        return base, "/v3/workspaces", {"id": base.rsplit("/", 1)[1]}

    async def get_metadata(self, ctx: Context, workspace_id: str | None = None, peer_id: str | None = None,
                           session_id: str | None = None) -> str:
        """Get the metadata of the workspace, or of a peer (peer_id) or a session (session_id) in it."""
        _, path, body = await self._target(await self.ws(workspace_id, ctx), peer_id, session_id)
        return text((await self.v3.call("POST", path, body)).get("metadata", {}))

    async def set_metadata(self, metadata: dict[str, Any], ctx: Context, workspace_id: str | None = None,
                           peer_id: str | None = None, session_id: str | None = None) -> str:
        """Set (overwrite) the metadata of the workspace, or of a peer (peer_id) or a session (session_id)."""
        update, path, body = await self._target(await self.ws(workspace_id, ctx), peer_id, session_id)
        if peer_id or session_id:
            await self.v3.call("POST", path, body)  # Honcho's SDK gets-or-creates the peer or session first
        await self.v3.call("PUT", update, {"metadata": metadata})
        return "Metadata set successfully"

    async def get_queue_status(self, ctx: Context, workspace_id: str | None = None, session_id: str | None = None) -> str:
        """The background processing queue: work unit counts (total, completed, in progress, pending).
        Check it before asking for insights about recent messages: pending 0 and in progress 0 means done."""
        base = await self.ws(workspace_id, ctx)
        return text(await self.v3.call("GET", f"{base}/queue/status", params={"session_id": session_id}))

    async def schedule_dream(self, peer_id: str, ctx: Context, workspace_id: str | None = None,
                             target_peer_id: str | None = None, session_id: str | None = None) -> str:
        """Schedule a dream: memory consolidation for a peer (its view of `target_peer_id`, or of itself).
        It re-checks the peer's conclusions, retires misattributed ones and ones a later fact replaced, dates
        relative times, looks for lasting patterns and rebuilds the peer card, in the background. Use it after
        a long conversation."""
        base = await self.ws(workspace_id, ctx)
        await self.v3.call("POST", f"{base}/schedule_dream", {"observer": peer_id, "observed": target_peer_id,
                                                            "session_id": session_id, "dream_type": "omni"})
        return "Dream scheduled successfully"
