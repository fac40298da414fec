"""The request side of the API contract: ids and JSON bodies the handlers never see when they are bad.

- `check_request_ids` (a `before_request` hook): every id in the path (`workspace_id`, `peer_id`,
  `session_id`, `message_id`, `conclusion_id`) and every id-valued query parameter (`target`,
  `peer_target`, `peer_perspective`, `observer_id`, `sender_id`, `session_id`, `message_id`, `sessions`)
  must match Honcho's id pattern `^[a-zA-Z0-9_-]+$` (1-512 characters here), else 422. Matched in full: Python's
  `$` also matches before a trailing newline, which let `abc%0A` in as a new id (issue 30).
- `check_names`: the same rule for ids in bodies that are plain JSON lists or object keys (session
  membership), which Litestar decodes with msgspec and so without the pydantic `Name` constraint.
- `ContractRequest`: a JSON body nested more than MAX_JSON_DEPTH levels is 400 with a readable detail,
  before any handler or validator walks it (msgspec raises `RecursionError` at about 1,000 levels, and
  Python code that recurses over such a value fails the same way: both were 500s, issue 30).

`ID_PARAMS`/`ID_PATTERN` are also what `api.openapi_contract` writes into the OpenAPI document, so the
documented rule and the enforced rule are one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from litestar import Request

from honcho_local.errors import BadRequest, InvalidInput

ID_PATTERN = r"^[a-zA-Z0-9_-]+$"
ID_MAX_LENGTH = 512
_ID = re.compile(r"[a-zA-Z0-9_-]{1,512}")
PATH_IDS = ("workspace_id", "peer_id", "session_id", "message_id", "conclusion_id")
QUERY_IDS = ("target", "peer_target", "peer_perspective", "observer_id", "sender_id", "session_id", "message_id",
             "sessions")
ID_PARAMS = frozenset(PATH_IDS + QUERY_IDS)
MAX_JSON_DEPTH = 32
_TOO_DEEP = (f"the JSON body is nested too deeply: at most {MAX_JSON_DEPTH} levels of objects and lists "
             "(metadata may be nested at most 5 levels, filters 8)")
_RULE = f"may contain only letters, digits, '_' and '-' (1-{ID_MAX_LENGTH} characters)"


def is_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


def _refuse(key: str, value: str) -> InvalidInput:
    return InvalidInput(f"{key} {_RULE}, got {value[:64]!r}")


async def check_request_ids(request: Request) -> None:
    """Reject bad ids in the path or query before any handler runs (a coroutine: a sync hook would cost
    a thread-pool round trip per request)."""
    path_params = request.path_params
    for key in PATH_IDS:
        value = path_params.get(key)
        if value is not None and not is_id(value):
            raise _refuse(key, value)
    if request.scope["query_string"]:
        query = request.query_params
        for key in QUERY_IDS:
            for value in query.getall(key, ()):
                if not is_id(value):
                    raise _refuse(key, value)


def check_names(values: Iterable[Any], what: str) -> None:
    """Each of `values` is an id (422 otherwise): for bodies Litestar validates without pydantic."""
    for value in values:
        if not isinstance(value, str) or not is_id(value):
            raise InvalidInput(f"{what} {_RULE}, got {str(value)[:64]!r}")


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` has objects or lists nested more than `limit` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class ContractRequest(Request):
    """Litestar's request, with a JSON body nested too deeply answered 400 (`BadRequest`)."""

    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError:
            raise BadRequest(_TOO_DEEP) from None
        if isinstance(value, (dict, list)) and nested_deeper_than(value, MAX_JSON_DEPTH):
            raise BadRequest(_TOO_DEEP)
        return value
