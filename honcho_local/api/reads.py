"""Read routes (#5, 13-17, 29-31): context, summaries, representation, peer card, message search.

Extensions: `as_of` (ISO-8601; what was known then) and `version` (a representation version).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get, post, put
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from honcho_local.api.deps import cache_first
from honcho_local.api.scopes import refuse_scope, scoped_filters
from honcho_local.errors import InvalidInput
from honcho_local.schemas_read import CardBody, RepresentationBody, SearchBody
from honcho_local.services.allowlist import session_allowlist
from honcho_local.services.context import ContextRequest
from honcho_local.services.representation import Recall
from honcho_local.wiring import Services

W = "/v3/workspaces/{workspace_id:str}"
MAX_ALLOWLIST = 1_000  # sessions in an allowlist (Honcho's cap)
# `scope` is Litestar's reserved name for the ASGI scope: the query parameter arrives under another name
ScopeQuery = Annotated[str | None, QueryParameter(name="scope")]


def _context_sessions(session_id: str, sessions: list[str] | None, peer_target: str | None,
                      limit_to_session: bool) -> list[str] | None:
    """The session context's `sessions` allowlist (repeated query parameter), checked as Honcho does."""
    if sessions is None:
        return None
    if limit_to_session:
        raise InvalidInput("`sessions` and `limit_to_session` are mutually exclusive")
    if peer_target is None:
        raise InvalidInput("`sessions` requires peer_target")
    if not 1 <= len(sessions) <= MAX_ALLOWLIST:
        raise InvalidInput(f"`sessions` must name 1 to {MAX_ALLOWLIST:,} sessions")
    if session_id not in sessions:
        raise InvalidInput(f"`sessions` must include this session ({session_id!r})")
    return list(dict.fromkeys(sessions))


def _recall(body: RepresentationBody) -> Recall:
    """The representation's recall; `filters` is a session allowlist, the only filter Honcho takes here."""
    sessions = session_allowlist(body.filters, body.session_id)
    if sessions is None and body.session_id:
        sessions = [body.session_id]
    return Recall(body.search_query, body.search_top_k, body.search_max_distance,
                  bool(body.include_most_frequent), 25 if body.max_conclusions is None else body.max_conclusions, sessions)


class ReadController(Controller):
    path = W
    tags = ["reads"]

    # Reads are answered on the event loop when the read cache holds them, else in a handler thread
    # (deps.cache_first).
    @get("/sessions/{session_id:str}/context", operation_id="get_session_context")
    async def session_context(
            self, workspace_id: FromPath[str], session_id: FromPath[str], svc: NamedDependency[Services],
            tokens: FromQuery[int | None] = None, summary: FromQuery[bool] = True,
            peer_target: FromQuery[str | None] = None, peer_perspective: FromQuery[str | None] = None,
            limit_to_session: FromQuery[bool] = False, search_query: FromQuery[str | None] = None,
            search_top_k: FromQuery[int | None] = None, search_max_distance: FromQuery[float | None] = None,
            include_most_frequent: FromQuery[bool] = False, max_conclusions: FromQuery[int | None] = None,
            as_of: FromQuery[str | None] = None, version: FromQuery[str | None] = None,
            scope_name: ScopeQuery = None, sessions: FromQuery[list[str] | None] = None) -> dict[str, Any]:
        if scope_name is not None:  # the target's representation read from the scope's sessions only
            if peer_target is None:
                raise InvalidInput("`scope` requires peer_target")
            if peer_perspective is not None or sessions is not None or limit_to_session:
                raise InvalidInput("`scope` is mutually exclusive with peer_perspective, sessions and limit_to_session")
            allow: list[str] | None = await sync_to_thread(svc.scopes.sessions_of, workspace_id, scope_name)
        else:
            allow = _context_sessions(session_id, sessions, peer_target, limit_to_session)
        recall = Recall(search_query, search_top_k, search_max_distance, include_most_frequent,
                        100 if max_conclusions is None else max_conclusions, allow)
        req = ContextRequest(tokens, summary, peer_target, peer_perspective, limit_to_session, recall, as_of, version)
        return await cache_first(svc.read_cache, svc.context.context_read(workspace_id, session_id, req))

    @get("/sessions/{session_id:str}/summaries", operation_id="get_session_summaries", sync_to_thread=True)
    def summaries(self, workspace_id: FromPath[str], session_id: FromPath[str], svc: NamedDependency[Services],
                  as_of: FromQuery[str | None] = None, version: FromQuery[str | None] = None) -> dict[str, Any]:
        return svc.context.summaries(workspace_id, session_id, as_of, version)

    @post("/peers/{peer_id:str}/representation", operation_id="get_representation", status_code=200)
    async def representation(self, workspace_id: FromPath[str], peer_id: FromPath[str], svc: NamedDependency[Services],
                             data: JSONBody[RepresentationBody | None] = None) -> dict[str, Any]:
        body = data or RepresentationBody()
        if body.scope is not None:
            filters = await sync_to_thread(scoped_filters, svc, workspace_id, body.scope, body.filters,
                                           body.session_id)
            body = body.model_copy(update={"filters": filters, "scope": None})
        return await cache_first(svc.read_cache, svc.representations.representation_read(
            workspace_id, peer_id, body.target, _recall(body), body.as_of, body.version))

    @get("/peers/{peer_id:str}/card", operation_id="get_peer_card")
    async def get_card(self, workspace_id: FromPath[str], peer_id: FromPath[str], svc: NamedDependency[Services],
                       target: FromQuery[str | None] = None, as_of: FromQuery[str | None] = None,
                       version: FromQuery[str | None] = None) -> dict[str, Any]:
        return await cache_first(svc.read_cache, svc.representations.card_read(workspace_id, peer_id, target, as_of,
                                                                               version))

    @put("/peers/{peer_id:str}/card", operation_id="set_peer_card", sync_to_thread=True)
    def set_card(self, workspace_id: FromPath[str], peer_id: FromPath[str], data: JSONBody[CardBody],
                 svc: NamedDependency[Services], target: FromQuery[str | None] = None,
                 version: FromQuery[str | None] = None) -> dict[str, Any]:
        return svc.representations.set_card(workspace_id, peer_id, target, data.peer_card, version)

    @get("/peers/{peer_id:str}/context", operation_id="get_peer_context")
    async def peer_context(
            self, workspace_id: FromPath[str], peer_id: FromPath[str], svc: NamedDependency[Services],
            target: FromQuery[str | None] = None, search_query: FromQuery[str | None] = None,
            search_top_k: FromQuery[int | None] = None, search_max_distance: FromQuery[float | None] = None,
            include_most_frequent: FromQuery[bool] = True, max_conclusions: FromQuery[int | None] = None,
            as_of: FromQuery[str | None] = None, version: FromQuery[str | None] = None,
            scope_name: ScopeQuery = None) -> dict[str, Any]:
        refuse_scope(scope_name, "the peer context")
        recall = Recall(search_query, search_top_k, search_max_distance, include_most_frequent,
                        100 if max_conclusions is None else max_conclusions)
        return await cache_first(svc.read_cache, svc.representations.peer_context_read(
            workspace_id, peer_id, target, recall, as_of, version))

    # Searches stay in handler threads: their BM25 is GIL-free work that threads overlap
    # (docs/decisions/007-tuned-constants.md).
    @post("/search", operation_id="search_workspace", status_code=200, sync_to_thread=True)
    def search_workspace(self, workspace_id: FromPath[str], data: JSONBody[SearchBody],
                         svc: NamedDependency[Services]) -> list[dict[str, Any]]:
        filters = data.filters
        if data.scope is not None:  # the scope's member sessions; none: nothing matches
            if isinstance(filters, dict) and "session_id" in filters:
                raise InvalidInput("`scope` and a 'session_id' filter are mutually exclusive")
            members = svc.scopes.sessions_of(workspace_id, data.scope)
            if not members:
                return []
            filters = {**(filters or {}), "session_id": {"in": members}}
        return svc.search.search(workspace_id, data.query, filters, data.limit)

    @post("/sessions/{session_id:str}/search", operation_id="search_session", status_code=200, sync_to_thread=True)
    def search_session(self, workspace_id: FromPath[str], session_id: FromPath[str], data: JSONBody[SearchBody],
                       svc: NamedDependency[Services]) -> list[dict[str, Any]]:
        refuse_scope(data.scope, "session search")
        return svc.search.search(workspace_id, data.query, data.filters, data.limit, session_id=session_id)

    @post("/peers/{peer_id:str}/search", operation_id="search_peer", status_code=200, sync_to_thread=True)
    def search_peer(self, workspace_id: FromPath[str], peer_id: FromPath[str], data: JSONBody[SearchBody],
                    svc: NamedDependency[Services]) -> list[dict[str, Any]]:
        refuse_scope(data.scope, "peer search")
        return svc.search.search(workspace_id, data.query, data.filters, data.limit, peer_id=peer_id)
