"""API keys at the door: which key a request carries, whether it may use the route, and the key-minting route.

With `auth_use_auth` on (Honcho's `AUTH_USE_AUTH`), every request but the open ones (`/health`, the API docs
and `/openapi.json`, the `/ui` page's static files) needs `Authorization: Bearer <key>`: one of Honcho's JWTs
(`honcho_local.apikeys`) or the owner token `serve` wrote to `<home>/server.json` (0600; what the CLI uses),
which counts as admin. A missing, bad, expired or out-of-scope key is 401 `{"detail": ...}` with Honcho's
words, before any handler runs or any body is parsed. With auth off nothing here runs (`authorize` returns at
once and `serving_app` leaves the gate out).

Two doors: `authorize`, an app-level Litestar guard, for every Litestar route (the rule of a route: `rule_of`);
and `AuthGate`, ASGI in front of the message fast path and the MCP mount (neither is Litestar), which checks
the fast path's route and requires a valid key at `/mcp` (the MCP tools then call the API with that same key,
so they can do no more than it may). A route's rule: open, admin, get-or-create (the new id is in the body),
workspace-level (Honcho's `/scopes` routes), or, by default, the workspace, peer and session its path names
(`apikeys.refusal`); a peer key's chat, recall and representation may name only sessions its peer is a member
of (Honcho's gate: the dialectic reads the named session), and it may read the sessions its peer is a member of
(Honcho's `allow_member_read`; both in `api.membership`). A route outside
`/v3/workspaces/{workspace_id}` that no rule names is admin-only: a new route fails closed.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
import time
from collections.abc import Callable
from typing import Annotated, Any

from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import QueryParameter

from honcho_local import apikeys
from honcho_local.api.membership import SESSIONS_IN_BODY, member_read, operation_of, scope_refusal, session_refusal
from honcho_local.apikeys import ADMIN, Claims, Unauthenticated
from honcho_local.config import Settings

OPEN, ADMIN_ONLY, SCOPED, WORKSPACE = "open", "admin", "scoped", "workspace"
CREATE = {"get_or_create_workspace": "workspace", "get_or_create_peer": "peer", "get_or_create_session": "session"}
RULES = {"health": OPEN, "openapi_json": OPEN, "metrics": ADMIN_ONLY, "get_server_status": ADMIN_ONLY,
         "list_workspaces": ADMIN_ONLY, "create_key": ADMIN_ONLY}
OPEN_PREFIXES = ("/docs", "/ui")
SECURITY_COMPONENTS = Components(security_schemes={
    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT",
                             description="An API key (Honcho's scoped JWT); needed when the server runs with "
                                         "auth on (AUTH_USE_AUTH). docs/security.md")})
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]
NO_KEY = "No access token provided"
_FAST_POST = re.compile(r"/v3/workspaces/([^/]+)/sessions/([^/]+)/messages")
MCP_PATH = "/mcp"
_SEEN_MAX = 4096


class Authority:
    """The server's keys: verifies them (cached) and knows the owner token."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self.verifier = apikeys.Verifier(secret, clock)
        self.secret = secret
        self._rules: dict[tuple[int, str], tuple[str, str | None]] = {}
        self._seen: dict[str, Claims] = {}  # Authorization header value -> claims (verified ones only)

    @classmethod
    def from_settings(cls, settings: Settings) -> Authority | None:
        """None when auth is off."""
        return cls(settings.auth_jwt_secret or "") if settings.auth_use_auth else None

    def identify(self, authorization: str | None, owner_token: str | None) -> Claims:
        """The claims of the request's bearer key; Unauthenticated without a valid one. Known header values
        are one dict lookup and an expiry compare (the message fast path pays this on every request)."""
        known = self._seen.get(authorization or "")
        if known is not None and (known.expires is None or not known.expired(self.verifier.clock())):
            return known
        claims = self._identify(authorization, owner_token)
        if len(self._seen) >= _SEEN_MAX:
            self._seen.clear()
        self._seen[authorization or ""] = claims
        return claims

    def _identify(self, authorization: str | None, owner_token: str | None) -> Claims:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated(NO_KEY)
        if owner_token and hmac.compare_digest(token.encode(), owner_token.encode()):
            return ADMIN
        return self.verifier.claims(token)

    def rule(self, handler: BaseRouteHandler, template: str) -> tuple[str, str | None]:
        """(rule, what a get-or-create route creates) of a route handler (its path template, Litestar's
        `path_template`: never a request's ids), worked out once per handler."""
        key = (id(handler), template)
        found = self._rules.get(key)
        if found is None:
            found = self._rules[key] = rule_of(handler, template)
        return found


def rule_of(handler: BaseRouteHandler, path: str) -> tuple[str, str | None]:
    """A route's rule from its operation id and its path template."""
    operation = operation_of(handler)
    if operation in CREATE:
        return SCOPED, CREATE[operation]
    if operation in RULES:
        return RULES[operation], None
    if path.startswith(OPEN_PREFIXES):
        return OPEN, None
    if "/scopes" in path:  # Honcho's scope routes take a workspace (or admin) key, whatever session they name
        return WORKSPACE, None
    return SCOPED, None  # `refusal` makes a route whose path names no workspace admin-only


def unauthorized(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def _new_id(connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
    """The `id` a get-or-create body names (None when the body is not such an object: the route refuses it)."""
    try:
        body = await connection.json()  # type: ignore[attr-defined]  # guards get the Request
    except Exception:  # noqa: BLE001 - a malformed body is the handler's 4xx to give
        return None
    return body.get("id") if isinstance(body, dict) else None


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """App-level guard: the route's rule for the request's key (nothing at all with auth off)."""
    authority: Authority | None = getattr(connection.app.state, "authority", None)
    if authority is None:
        return
    rule, creates = authority.rule(handler, connection.scope.get("path_template") or "")
    if rule == OPEN:
        return
    try:
        claims = authority.identify(connection.headers.get("authorization"),
                                    getattr(connection.app.state, "admin_token", None))
    except Unauthenticated as exc:
        raise unauthorized(exc.detail) from None
    params = connection.path_params
    if rule == ADMIN_ONLY:
        refused = None if claims.admin else apikeys.ADMIN_ONLY
    elif rule == WORKSPACE:
        refused = apikeys.refusal(claims, params.get("workspace_id"))
    elif creates is not None:
        refused = apikeys.creation_refusal(claims, creates, params.get("workspace_id"), await _new_id(connection))
    else:
        refused = apikeys.refusal(claims, params.get("workspace_id"), params.get("peer_id"), params.get("session_id"))
        if refused is None and claims.peer is not None and operation_of(handler) in SESSIONS_IN_BODY:
            refused = await session_refusal(connection, claims)
        elif refused is not None and await member_read(connection, claims, handler):
            refused = None
    if not refused:
        refused = await scope_refusal(connection, claims, handler)
    if refused:
        raise unauthorized(refused)


def is_admin(connection: ASGIConnection[Any, Any, Any, Any], token: str) -> bool:
    """Whether `token` is an admin key of this server (the admin routes' guard also takes one)."""
    authority: Authority | None = getattr(connection.app.state, "authority", None)
    if authority is None or not token:
        return False
    try:
        return authority.verifier.claims(token).admin
    except Unauthenticated:
        return False


class AuthGate:
    """ASGI, in front of what Litestar does not route: the message fast path's POST and `/mcp`. Everything
    else passes to `app`, whose guard (`authorize`) checks it."""

    def __init__(self, app: Any, authority: Authority, litestar_app: Any) -> None:
        self.app = app
        self.authority = authority
        self.state = litestar_app.state

    def refusal(self, scope: dict[str, Any]) -> str | None:
        path = scope["path"]
        mcp = path.startswith(MCP_PATH) and (path == MCP_PATH or path.startswith(MCP_PATH + "/"))
        fast = _FAST_POST.fullmatch(path) if not mcp and path.endswith("/messages") and scope["method"] == "POST" \
            else None
        if not mcp and fast is None:
            return None
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        try:
            claims = self.authority.identify(header, getattr(self.state, "admin_token", None))
        except Unauthenticated as exc:
            return exc.detail
        return None if fast is None else apikeys.refusal(claims, fast[1], None, fast[2])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        refused = self.refusal(scope) if scope["type"] == "http" else None
        if refused is None:
            await self.app(scope, receive, send)
            return
        payload = json.dumps({"detail": refused}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload)),
                                (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": payload})


def document_keys(openapi: OpenAPI) -> OpenAPI:
    """With auth on: a 401 (`{"detail": ...}`, the `Error` schema `api.openapi_contract` declares) on every
    operation that needs a key, i.e. all but those whose security allows none (`[{}]`: /health)."""
    unauthorized_response = OpenAPIResponse(
        description="No key, a key that does not verify or has expired, or a key without this route's scope "
                    "(API keys: docs/security.md)",
        content={"application/json": OpenAPIMediaType(schema=Reference("#/components/schemas/Error"))})
    components = openapi.components[0] if isinstance(openapi.components, list) else openapi.components
    components.schemas = components.schemas or {}
    components.schemas.setdefault("Error", Schema(type=OpenAPIType.OBJECT, required=["detail"],
                                                  properties={"detail": Schema(type=OpenAPIType.STRING)}))
    for item in (openapi.paths or {}).values():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is not None and operation.security != [{}]:
                operation.responses = {**(operation.responses or {}), "401": unauthorized_response}
    return openapi


class KeyController(Controller):
    """`POST /v3/keys`: Honcho's route to mint a scoped key (admin only; `authorize` checks)."""

    path = "/v3/keys"
    tags = ["keys"]

    @post("/", operation_id="create_key", status_code=200, summary="Create a new Key")
    async def create_key(
        self, request: Request[Any, Any, Any],
        workspace_id: Annotated[str | None, QueryParameter(description="ID of the workspace to scope the key to")] = None,
        peer_id: Annotated[str | None, QueryParameter(description="ID of the peer to scope the key to")] = None,
        session_id: Annotated[str | None, QueryParameter(description="ID of the session to scope the key to")] = None,
        expires_at: Annotated[dt.datetime | None, QueryParameter(description="When the key expires")] = None,
    ) -> dict[str, str]:
        """A key scoped to a workspace, a peer or a session (Honcho's `{"key": ...}`). 405 with auth off, as in
        Honcho: there is no secret to sign with."""
        authority: Authority | None = getattr(request.app.state, "authority", None)
        if authority is None:
            raise HTTPException(status_code=405, detail="Feature is disabled: keys need auth on (AUTH_USE_AUTH=true "
                                                        "and AUTH_JWT_SECRET)")
        return {"key": apikeys.mint(authority.secret, workspace=workspace_id, peer=peer_id, session=session_id,
                                    expires=expires_at)}
