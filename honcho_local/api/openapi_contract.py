"""The OpenAPI document as the server really answers: every error status each route can send, with a
description and the one error shape `{"detail": string}`, and the id rule on every id parameter.

Litestar documents a `400` with its own validation-error shape on every route, while the server answers
validation errors 422 `{"detail": ...}` (`api.errors`) and sends 404, 409, 413, 415, 421, 503, 507...
undocumented (issue 30: schemathesis found 68 undocumented status codes). `document_contract` rewrites the
built document once, at app creation, from what each part of the server sends:

- the request guard (`api.guard`): 421 on every route; 403 and 415 on state-changing ones;
- Litestar: 413 (a body over 10 MB) and 400 (malformed or too deeply nested JSON: `api.contract`) where
  a route takes a body; 422 (`InvalidInput`, validation) where it takes parameters or a body;
- the services (`api.errors.STATUS`): 404 where a path names a resource, 409/502 on the routes whose
  services raise them, 503 (store reopening or model unavailable) everywhere, 507 (disk full) on writes;
- get-or-create routes answer 200 for an existing resource and 201 for a new one.

Authentication statuses (401/403 for API keys) are documented by `api.auth` with its security scheme;
the admin routes' own 401 is documented here. tests/test_openapi_contract.py runs schemathesis against a
live server with this document.
"""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    Reference,
    Schema,
)
from litestar.openapi.spec import RequestBody as OpenAPIRequestBody
from litestar.openapi.spec.enums import OpenAPIType
from pydantic import BaseModel

from honcho_local import schemas, schemas_read
from honcho_local.api.contract import ID_MAX_LENGTH, ID_PARAMS, ID_PATTERN

ERROR_REF = "#/components/schemas/Error"
STATE_CHANGING = {"post", "put", "patch", "delete"}
RESOURCE_PARAMS = {"workspace_id", "peer_id", "session_id", "message_id", "conclusion_id", "scope_id", "name"}
MEMBER_ROUTES = {"add_session_peers", "set_session_peers", "remove_session_peers"}
GET_OR_CREATE = {"get_or_create_workspace", "get_or_create_peer", "get_or_create_session", "get_or_create_scope"}
MODEL_ROUTES = {"peer_chat", "workspace_chat"}
EMBEDDING_ROUTES = {"search_workspace", "search_session", "search_peer", "query_conclusions", "get_representation",
                    "get_peer_context", "get_session_context", "peer_recall", "create_conclusions"}
CONFLICTS = {"delete_workspace": "the workspace still has active sessions",
             "admin_activate_version": "the version exists with other settings",
             "admin_rollback_version": "there is no earlier default version to roll back to"}
DISABLED = {"create_key": "minting keys needs auth on (AUTH_USE_AUTH and AUTH_JWT_SECRET)"}
BAD_REQUEST_RULES = {"get_or_create_session", "add_session_peers", "set_session_peers", "set_session_peer_config"}
DESCRIPTIONS = {
    "400": "Malformed JSON body, or JSON nested more than 32 levels",
    "401": "No valid credentials (admin routes: the admin token from <home>/server.json)",
    "403": "A state change from a web page of another origin or site (the request guard: docs/security.md)",
    "404": "A resource the request names does not exist",
    "405": "The feature this route serves is switched off",
    "409": "The request conflicts with the current state",
    "413": "The request body is larger than 10 MB",
    "415": "A request body that is not application/json (the request guard: docs/security.md)",
    "421": "The Host header does not name this server (a DNS rebinding defence: docs/security.md)",
    "422": "A parameter or the body is invalid; `detail` names it",
    "502": "The model's output was unusable after retries",
    "503": "The store is being reopened after a fault, or a model the request needs is unavailable",
    "507": "The disk holding the store is full: nothing was stored",
}


def error_schema() -> Schema:
    return Schema(type=OpenAPIType.OBJECT, required=["detail"], title="Error",
                  description="Every error answer: a readable sentence saying what is wrong",
                  properties={"detail": Schema(type=OpenAPIType.STRING)})


def _error(status: str, extra: str | None = None) -> OpenAPIResponse:
    text = DESCRIPTIONS[status] + (f" ({extra})" if extra else "")
    return OpenAPIResponse(description=text, content={"application/json": OpenAPIMediaType(schema=Reference(ERROR_REF))})


def _param_names(operation: Operation, path: str) -> set[str]:
    names = {p.name for p in operation.parameters or [] if hasattr(p, "name")}
    return names | {part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")}


def error_statuses(method: str, path: str, operation: Operation) -> dict[str, str | None]:
    """status -> extra description, for the errors this route can answer."""
    op_id, names = operation.operation_id or "", _param_names(operation, path)
    if op_id == "health":
        return {"421": None, "503": "`{status: degraded, problem, detail, since}` while the store cannot take writes"}
    statuses: dict[str, str | None] = {"421": None, "503": None}
    if method in STATE_CHANGING:
        statuses |= {"403": None, "415": None}
        if path.startswith("/v3/"):
            statuses["507"] = None
    if operation.request_body is not None:
        statuses |= {"400": None, "413": None, "422": None}
    if names:
        statuses["422"] = None
    if names & RESOURCE_PARAMS:
        statuses["404"] = None
    if op_id in BAD_REQUEST_RULES:
        statuses["400"] = "or more observers in a session than its limit"
    if op_id in CONFLICTS:
        statuses["409"] = CONFLICTS[op_id]
    if op_id in MODEL_ROUTES:
        statuses["502"] = None
    if op_id in DISABLED:
        statuses["405"] = DISABLED[op_id]
    if path.startswith("/admin"):
        statuses["401"] = None
    return statuses


def _constrain_ids(operation: Operation) -> None:
    """The id rule (`api.contract`) on every id-valued path and query parameter's string schema."""
    for param in operation.parameters or []:
        if not isinstance(param, Parameter) or param.name not in ID_PARAMS or not isinstance(param.schema, Schema):
            continue
        for schema in _string_schemas(param.schema):
            schema.pattern, schema.min_length, schema.max_length = ID_PATTERN, 1, ID_MAX_LENGTH


def _string_schemas(schema: Schema) -> list[Schema]:
    if schema.type == OpenAPIType.STRING:
        return [schema]
    if schema.type == OpenAPIType.ARRAY and isinstance(schema.items, Schema):
        return _string_schemas(schema.items)
    found: list[Schema] = []
    for sub in schema.one_of or schema.any_of or []:
        if isinstance(sub, Schema):
            found += _string_schemas(sub)
    return found


def _id_schema() -> Schema:
    return Schema(type=OpenAPIType.STRING, pattern=ID_PATTERN, min_length=1, max_length=ID_MAX_LENGTH)


def _member_ids(operation: Operation) -> None:
    """Session membership bodies name peers by id: as object keys (add, set) or list items (remove)."""
    body = operation.request_body
    if operation.operation_id not in MEMBER_ROUTES or not isinstance(body, OpenAPIRequestBody):
        return
    for media in (body.content or {}).values():
        schema = media.schema
        if isinstance(schema, Schema) and schema.type == OpenAPIType.OBJECT:
            schema.property_names = _id_schema()
        elif isinstance(schema, Schema) and schema.type == OpenAPIType.ARRAY:
            schema.items = _id_schema()


def _closed_models(openapi_schemas: dict[str, Any]) -> None:
    """Request models that refuse unknown keys (`extra="forbid"`) say so: `additionalProperties: false`."""
    for module in (schemas, schemas_read):
        for name, model in vars(module).items():
            if (isinstance(model, type) and issubclass(model, BaseModel) and name in openapi_schemas
                    and model.model_config.get("extra") == "forbid"):
                openapi_schemas[name].additional_properties = False


def _document_operation(method: str, path: str, operation: Operation) -> None:
    responses: dict[str, Any] = dict(operation.responses or {})
    if "400" in responses and operation.request_body is None:
        del responses["400"]  # Litestar's validation 400: the server answers those 422
    for status, extra in error_statuses(method, path, operation).items():
        current = responses.get(status)
        if current is None or _is_litestar_validation(current) or not isinstance(current, OpenAPIResponse):
            responses[status] = _error(status, extra)
        elif DESCRIPTIONS[status] not in current.description:  # documented elsewhere (api.auth): say both
            current.description = f"{current.description}; or: {DESCRIPTIONS[status]}"
    if operation.operation_id in GET_OR_CREATE and "201" in responses:
        created = responses["201"]
        responses["200"] = OpenAPIResponse(description="The resource already existed: returned as it is",
                                           content=created.content if isinstance(created, OpenAPIResponse) else None)
    operation.responses = dict(sorted(responses.items()))
    _constrain_ids(operation)
    _member_ids(operation)


def _is_litestar_validation(response: Any) -> bool:
    """Litestar's generated error response (its shape has `status_code` and `extra`, ours does not)."""
    return isinstance(response, OpenAPIResponse) and '"status_code"' in str(response.to_schema()).replace("'", '"')


def _optional_body(operation: Operation) -> None:
    """A body the handler takes as `X | None` may be left out (list routes): Litestar marks it required."""
    body = operation.request_body
    if body is None or isinstance(body, Reference):
        return
    for media in (body.content or {}).values():
        schema = media.schema
        if isinstance(schema, Schema) and any(isinstance(s, Schema) and s.type == OpenAPIType.NULL
                                              for s in schema.one_of or []):
            body.required = False


def _streams(operation: Operation) -> None:
    """Chat answers `text/event-stream` when asked to stream (`"stream": true`)."""
    ok = (operation.responses or {}).get("200")
    if operation.operation_id in MODEL_ROUTES and isinstance(ok, OpenAPIResponse):
        ok.content = {**(ok.content or {}), "text/event-stream": OpenAPIMediaType(schema=_stream_event())}
        ok.description = "The answer as JSON, or with `stream: true` as server-sent events"


def _stream_event() -> Schema:
    """One server-sent event's data: `{"delta": {"content": text}, "done": false}`, last `{"done": true}`
    (with `evidence` when asked for)."""
    delta = Schema(type=OpenAPIType.OBJECT, properties={"content": Schema(type=OpenAPIType.STRING)})
    return Schema(type=OpenAPIType.OBJECT,
                  properties={"delta": delta, "done": Schema(type=OpenAPIType.BOOLEAN), "evidence": Schema()})


def document_contract(openapi: OpenAPI, auth_on: bool = False) -> OpenAPI:
    """Rewrite Litestar's document in place (see the module docstring); returns it. With auth off, a
    declared security scheme is optional: the server answers without a key."""
    if not auth_on and openapi.security:
        openapi.security = [{}, *openapi.security]
    components = openapi.components
    if isinstance(components, list):  # Litestar allows a list of Components objects
        components = components[0]
    declared = components.schemas if components.schemas is not None else {}
    declared["Error"] = error_schema()
    _closed_models(declared)
    components.schemas = declared
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is not None:
                _document_operation(method, path, operation)
                _optional_body(operation)
                _streams(operation)
    return openapi
