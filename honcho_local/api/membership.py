"""How far a peer's API key reaches into sessions (Honcho's rules; `api.auth` asks): it may read a session its
peer is an active member of (Honcho's `allow_member_read` routes: messages, a message, members, context,
summaries, search; never a write), in the session's context only from its own perspective and with a `sessions`
allowlist of its own; and its chat, recall and representation may name (`session_id`, `filters.session_id`)
only such sessions, since the dialectic reads the named session's messages. Membership is one store read in a
thread, paid only by peer keys on these routes.
"""

from __future__ import annotations

from typing import Any

from litestar.concurrency import sync_to_thread
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from honcho_local import apikeys
from honcho_local.apikeys import Claims

SESSIONS_IN_BODY = frozenset({"peer_chat", "peer_recall", "get_representation"})
MEMBER_READS = frozenset({"list_messages", "get_message", "list_session_peers", "get_session_context",
                          "get_session_summaries", "search_session"})
MAX_NAMED_SESSIONS = 1_000  # Honcho's cap on a session allowlist
# Routes that take a scope (`scope` in the body, `?scope=` on the session context, `scopes` on session create):
# a scope's sessions reach past any one peer's or session's, so naming one needs a workspace or admin key
SCOPE_TAKERS = frozenset({"peer_chat", "peer_recall", "get_representation", "workspace_chat", "search_workspace",
                          "get_session_context", "get_or_create_session"})
NEEDS_WORKSPACE_KEY = "`scope` requires a workspace- or admin-level key"


def operation_of(handler: BaseRouteHandler) -> str | None:
    """The route's operation id: HTTP routes name one; other handlers (an ASGI mount) have none."""
    operation = getattr(handler, "operation_id", None)
    return operation if isinstance(operation, str) else None


async def member_read(connection: ASGIConnection[Any, Any, Any, Any], claims: Claims,
                       handler: BaseRouteHandler) -> bool:
    """Honcho's `allow_member_read`: a peer key may read (never write) a session its peer is an active member
    of; in the session's context only from its own perspective, and with a `sessions` allowlist of its own."""
    params = connection.path_params
    session, operation = params.get("session_id"), operation_of(handler)
    if (claims.peer is None or claims.session is not None or operation not in MEMBER_READS
            or session is None or params.get("workspace_id") != claims.workspace):
        return False
    is_member = connection.app.state.services.resources.is_member
    if not await sync_to_thread(is_member, claims.workspace, session, claims.peer):
        return False
    if operation != "get_session_context":
        return True
    query = connection.query_params
    target, perspective = query.get("peer_target"), query.get("peer_perspective")
    if (perspective or target or claims.peer) != claims.peer or perspective not in (None, claims.peer):
        return False  # whose knowledge is read: the key's own peer only
    allowlist = list(dict.fromkeys(query.getall("sessions", [])))
    if len(allowlist) > MAX_NAMED_SESSIONS:
        return False
    for other in allowlist:
        if other != session and not await sync_to_thread(is_member, claims.workspace, other, claims.peer):
            return False
    return True


def _named_sessions(body: Any) -> list[str]:
    """The sessions a chat, recall or representation body confines itself to: `session_id`, and
    `filters.session_id` (an id, a list, or `{"in": [...]}`); what is not a string is the handler's 422."""
    if not isinstance(body, dict):
        return []
    named = [body.get("session_id")]
    filters = body.get("filters")
    allow = filters.get("session_id") if isinstance(filters, dict) else None
    allow = allow.get("in") if isinstance(allow, dict) else allow
    named += allow if isinstance(allow, list) else [allow]
    return [name for name in dict.fromkeys(named) if isinstance(name, str)]


async def session_refusal(connection: ASGIConnection[Any, Any, Any, Any], claims: Claims) -> str | None:
    """A peer key may name in the body only sessions its peer is an active member of (Honcho's chat gate: the
    dialectic reads the named session's messages, so naming another session would read them)."""
    try:
        body = await connection.json()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a malformed body is the handler's 4xx to give
        return None
    named = _named_sessions(body)
    if not named:
        return None
    resources = connection.app.state.services.resources
    workspace = connection.path_params["workspace_id"]
    for session in named[:MAX_NAMED_SESSIONS]:
        if not await sync_to_thread(resources.is_member, workspace, session, claims.peer):
            return apikeys.NOT_PERMITTED
    return None if len(named) <= MAX_NAMED_SESSIONS else apikeys.NOT_PERMITTED


async def scope_refusal(connection: ASGIConnection[Any, Any, Any, Any], claims: Claims,
                        handler: BaseRouteHandler) -> str | None:
    """Honcho's rule: a peer or session key may not name a scope (401, as every other scope surface refuses a
    narrow key). Read only for such keys on the routes that take one."""
    if (claims.peer is None and claims.session is None) or operation_of(handler) not in SCOPE_TAKERS:
        return None
    if connection.query_params.get("scope") is not None:
        return NEEDS_WORKSPACE_KEY
    if connection.scope.get("method") != "POST":
        return None
    try:
        body = await connection.json()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a malformed body is the handler's 4xx to give
        return None
    if isinstance(body, dict) and (body.get("scope") is not None or body.get("scopes")):
        return NEEDS_WORKSPACE_KEY
    return None
