"""Peer and conclusion tools: create_peer, list_peers, chat, get_peer_card, set_peer_card, get_peer_context,
get_representation, list_conclusions, query_conclusions, create_conclusions, delete_conclusion."""

from __future__ import annotations

from typing import Any, Literal

from mcp.server.mcpserver import Context

from honcho_local.mcp.toolset import ToolSet, seg, text

Level = Literal["minimal", "low", "medium", "high", "max"]


def _conclusion(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row.get(key) for key in ("id", "content", "observer_id", "observed_id", "session_id", "created_at")}


class PeerTools(ToolSet):
    NAMES = ("create_peer", "list_peers", "chat", "get_peer_card", "set_peer_card", "get_peer_context",
             "get_representation")

    async def create_peer(self, peer_id: str, ctx: Context, configuration: dict[str, Any] | None = None,
                          metadata: dict[str, Any] | None = None, workspace_id: str | None = None) -> str:
        """Get or create a peer (a user or an agent) with the given ID. configuration: {"observe_me": bool}."""
        body: dict[str, Any] = {"id": peer_id}
        if configuration is not None:
            body["configuration"] = {("observe_me" if k == "observeMe" else k): v for k, v in configuration.items()}
        if metadata is not None:
            body["metadata"] = metadata
        peer = await self.v3.call("POST", f"{await self.ws(workspace_id, ctx)}/peers", body)
        return text({"peer_id": peer["id"], "configuration": peer.get("configuration", {})})

    async def list_peers(self, ctx: Context, workspace_id: str | None = None) -> str:
        """List all peers in the workspace. Returns an array of peer IDs."""
        items = await self.v3.pages(f"{await self.ws(workspace_id, ctx)}/peers/list", {})
        return text([{"id": item["id"]} for item in items])

    async def chat(self, peer_id: str, query: str, ctx: Context, target_peer_id: str | None = None,
                   session_id: str | None = None, reasoning_level: Level | None = None,
                   workspace_id: str | None = None) -> str:
        """Ask a natural-language question about what is known of a peer (or what peer_id knows of
        target_peer_id). Returns the answer, or 'None' when nothing relevant is known."""
        body = {"query": query, "target": target_peer_id, "session_id": session_id, "reasoning_level": reasoning_level}
        got = await self.v3.call("POST", f"{await self.ws(workspace_id, ctx)}/peers/{seg(peer_id)}/chat",
                                 {k: v for k, v in body.items() if v is not None})
        return text(got.get("content") or "None")

    async def get_peer_card(self, peer_id: str, ctx: Context, target_peer_id: str | None = None,
                            workspace_id: str | None = None) -> str:
        """The peer card: a compact list of biographical facts about a peer (or peer_id's card of
        target_peer_id). Returns an array of fact strings, or 'No peer card found.'."""
        got = await self.v3.call("GET", f"{await self.ws(workspace_id, ctx)}/peers/{seg(peer_id)}/card",
                                 params={"target": target_peer_id})
        card = got.get("peer_card")
        return text("No peer card found." if card is None else card)

    async def set_peer_card(self, peer_id: str, peer_card: list[str], ctx: Context, target_peer_id: str | None = None,
                            workspace_id: str | None = None) -> str:
        """Set the peer card (a list of facts) of a peer, or peer_id's card of target_peer_id."""
        got = await self.v3.call("PUT", f"{await self.ws(workspace_id, ctx)}/peers/{seg(peer_id)}/card",
                                 {"peer_card": peer_card}, params={"target": target_peer_id})
        return text(got.get("peer_card") if got else "Peer card set successfully")

    async def get_peer_context(self, peer_id: str, ctx: Context, target_peer_id: str | None = None,
                               search_query: str | None = None, max_conclusions: int | None = None,
                               workspace_id: str | None = None) -> str:
        """Everything known of a peer: its representation (conclusions) and its peer card."""
        got = await self.v3.call("GET", f"{await self.ws(workspace_id, ctx)}/peers/{seg(peer_id)}/context",
                                 params={"target": target_peer_id, "search_query": search_query,
                                         "max_conclusions": max_conclusions})
        return text({"peer_id": got.get("peer_id", peer_id), "target_id": got.get("target_id"),
                     "representation": got.get("representation"), "peer_card": got.get("peer_card")})

    async def get_representation(self, peer_id: str, ctx: Context, target_peer_id: str | None = None,
                                 session_id: str | None = None, search_query: str | None = None,
                                 max_conclusions: int | None = None, workspace_id: str | None = None) -> str:
        """The representation of a peer: a text built from its conclusions (without the peer card)."""
        body = {"target": target_peer_id, "session_id": session_id, "search_query": search_query,
                "max_conclusions": max_conclusions}
        got = await self.v3.call("POST", f"{await self.ws(workspace_id, ctx)}/peers/{seg(peer_id)}/representation",
                                 {k: v for k, v in body.items() if v is not None})
        return text(got.get("representation", ""))


class ConclusionTools(ToolSet):
    NAMES = ("list_conclusions", "query_conclusions", "create_conclusions", "delete_conclusion")

    async def list_conclusions(self, peer_id: str, ctx: Context, target_peer_id: str | None = None,
                               workspace_id: str | None = None) -> str:
        """Conclusions (facts, observations) peer_id holds about target_peer_id, or about itself when omitted.
        Returns id, content, observer/observed IDs, session and date of each."""
        filters = {"observer_id": peer_id, "observed_id": target_peer_id or peer_id}
        items = await self.v3.pages(f"{await self.ws(workspace_id, ctx)}/conclusions/list", {"filters": filters})
        return text([_conclusion(item) for item in items])

    async def query_conclusions(self, peer_id: str, query: str, ctx: Context, target_peer_id: str | None = None,
                                top_k: int | None = None, workspace_id: str | None = None) -> str:
        """Semantic search over peer_id's conclusions about target_peer_id (itself when omitted)."""
        body: dict[str, Any] = {"query": query,
                                "filters": {"observer_id": peer_id, "observed_id": target_peer_id or peer_id}}
        if top_k is not None:
            body["top_k"] = top_k
        rows = await self.v3.call("POST", f"{await self.ws(workspace_id, ctx)}/conclusions/query", body)
        return text([_conclusion(row) for row in rows])

    async def create_conclusions(self, peer_id: str, target_peer_id: str, conclusions: list[str], ctx: Context,
                                 session_id: str | None = None, workspace_id: str | None = None) -> str:
        """Create conclusions (facts) peer_id holds about target_peer_id, not derived from a conversation."""
        rows = [{"content": content, "observer_id": peer_id, "observed_id": target_peer_id, "session_id": session_id}
                for content in conclusions]
        await self.v3.call("POST", f"{await self.ws(workspace_id, ctx)}/conclusions", {"conclusions": rows})
        return f"Created {len(rows)} conclusion{'' if len(rows) == 1 else 's'} successfully"

    async def delete_conclusion(self, peer_id: str, target_peer_id: str, conclusion_id: str, ctx: Context,
                                workspace_id: str | None = None) -> str:
        """Delete a conclusion by ID (it is forgotten: what rested on it is removed too)."""
        await self.v3.call("DELETE", f"{await self.ws(workspace_id, ctx)}/conclusions/{seg(conclusion_id)}")
        return "Conclusion deleted successfully"
