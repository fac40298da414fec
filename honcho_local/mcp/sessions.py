"""Session tools: create_session, list_sessions, delete_session, clone_session, add_peers_to_session,
remove_peers_from_session, get_session_peers, inspect_session, add_messages_to_session, get_session_messages,
get_session_message, get_session_context."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context
from pydantic import BaseModel

from honcho_local.mcp.toolset import ToolSet, seg, text


class PeerSpec(BaseModel):
    """A peer added to a session with its per-session configuration."""

    peer_id: str
    observe_me: bool | None = None
    observe_others: bool | None = None


class NewMessage(BaseModel):
    """A message written to a session by a peer."""

    peer_id: str
    content: str
    metadata: dict[str, Any] | None = None


def _message(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row.get(key) for key in ("id", "peer_id", "session_id", "content", "metadata", "created_at")}


def _members(peers: list[str | PeerSpec]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for peer in peers:
        if isinstance(peer, str):
            out[peer] = {}
        else:
            out[peer.peer_id] = peer.model_dump(exclude={"peer_id"}, exclude_none=True)
    return out


class SessionTools(ToolSet):
    NAMES = ("create_session", "list_sessions", "delete_session", "clone_session", "add_peers_to_session",
             "remove_peers_from_session", "get_session_peers", "inspect_session", "add_messages_to_session",
             "get_session_messages", "get_session_message", "get_session_context")

    async def _session(self, workspace_id: str | None, ctx: Context, session_id: str) -> str:
        return f"{await self.ws(workspace_id, ctx)}/sessions/{seg(session_id)}"

    async def create_session(self, session_id: str, ctx: Context, metadata: dict[str, Any] | None = None,
                             workspace_id: str | None = None) -> str:
        """Get or create a session with the given ID. Returns the session ID."""
        body: dict[str, Any] = {"id": session_id, **({"metadata": metadata} if metadata is not None else {})}
        session = await self.v3.call("POST", f"{await self.ws(workspace_id, ctx)}/sessions", body)
        return text({"session_id": session["id"]})

    async def list_sessions(self, ctx: Context, workspace_id: str | None = None) -> str:
        """List all sessions in the workspace. Returns an array of session IDs."""
        items = await self.v3.pages(f"{await self.ws(workspace_id, ctx)}/sessions/list", {})
        return text([{"id": item["id"]} for item in items])

    async def delete_session(self, session_id: str, ctx: Context, workspace_id: str | None = None) -> str:
        """Delete a session and all its messages. This cannot be undone."""
        await self.v3.call("DELETE", await self._session(workspace_id, ctx, session_id))
        return "Session deleted successfully"

    async def clone_session(self, session_id: str, ctx: Context, message_id: str | None = None,
                            workspace_id: str | None = None) -> str:
        """Clone a session, up to and including message_id when given. Returns the new session's ID."""
        got = await self.v3.call("POST", f"{await self._session(workspace_id, ctx, session_id)}/clone",
                                 params={"message_id": message_id})
        return text({"session_id": got["id"]})

    async def add_peers_to_session(self, session_id: str, peers: list[str | PeerSpec], ctx: Context,
                                   workspace_id: str | None = None) -> str:
        """Add peers to a session: plain IDs, or objects {peer_id, observe_me, observe_others}."""
        base = await self.ws(workspace_id, ctx)
        await self.v3.call("POST", f"{base}/sessions", {"id": session_id})
        await self.v3.call("POST", f"{base}/sessions/{seg(session_id)}/peers", _members(peers))
        return "Peers added to session successfully"

    async def remove_peers_from_session(self, session_id: str, peer_ids: list[str], ctx: Context,
                                        workspace_id: str | None = None) -> str:
        """Remove peers from a session."""
        await self.v3.call("DELETE", f"{await self._session(workspace_id, ctx, session_id)}/peers", peer_ids)
        return "Peers removed from session successfully"

    async def get_session_peers(self, session_id: str, ctx: Context, workspace_id: str | None = None) -> str:
        """The peers taking part in a session. Returns an array of peer IDs."""
        items = await self.v3.pages(f"{await self._session(workspace_id, ctx, session_id)}/peers")
        return text([item["id"] for item in items])

    async def inspect_session(self, session_id: str, ctx: Context, workspace_id: str | None = None) -> str:
        """Inspect a session at a glance: its peer IDs, message count and summaries."""
        base = await self._session(workspace_id, ctx, session_id)
        peers = await self.v3.pages(f"{base}/peers")
        first = await self.v3.call("POST", f"{base}/messages/list", {}, params={"page": 1, "size": 1})
        summaries = await self.v3.call("GET", f"{base}/summaries")
        return text({"session_id": session_id, "peers": [{"id": p["id"]} for p in peers],
                     "message_count": first.get("total", len(first["items"])), "summaries": summaries})

    async def add_messages_to_session(self, session_id: str, messages: list[NewMessage], ctx: Context,
                                      workspace_id: str | None = None) -> str:
        """Add messages to a session, each from a given peer: [{peer_id, content, metadata?}]. The session and
        the peers are created when new. The worker then reasons over them (see get_queue_status)."""
        base = await self.ws(workspace_id, ctx)
        await self.v3.call("POST", f"{base}/sessions", {"id": session_id,
                                                        "peers": {m.peer_id: {} for m in messages}})
        for start in range(0, len(messages), 100):  # the route takes at most 100 per call
            batch = [m.model_dump(exclude_none=True) for m in messages[start:start + 100]]
            await self.v3.call("POST", f"{base}/sessions/{seg(session_id)}/messages", {"messages": batch})
        return "Messages added to session successfully"

    async def get_session_messages(self, session_id: str, ctx: Context, filters: dict[str, Any] | None = None,
                                   workspace_id: str | None = None) -> str:
        """The messages of a session, oldest first, optionally filtered (e.g. {"peer_id": "alice"})."""
        items = await self.v3.pages(f"{await self._session(workspace_id, ctx, session_id)}/messages/list",
                                    {"filters": filters} if filters else {})
        return text([_message(item) for item in items])

    async def get_session_message(self, session_id: str, message_id: str, ctx: Context,
                                  workspace_id: str | None = None) -> str:
        """One message of a session by its ID."""
        base = await self._session(workspace_id, ctx, session_id)
        return text(_message(await self.v3.call("GET", f"{base}/messages/{seg(message_id)}")))

    async def get_session_context(self, session_id: str, ctx: Context, summary: bool | None = None,
                                  tokens: int | None = None, workspace_id: str | None = None) -> str:
        """Context for the next model call in a session: recent messages and a summary of older ones."""
        got = await self.v3.call("GET", f"{await self._session(workspace_id, ctx, session_id)}/context",
                                 params={"summary": None if summary is None else str(summary).lower(),
                                         "tokens": tokens})
        return text({"session_id": session_id, "summary": got.get("summary"),
                     "messages": [_message(m) for m in got.get("messages", [])]})
