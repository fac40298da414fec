"""Session allowlists: Honcho's `filters: {"session_id": ...}` on peer chat and representation.

The filter confines recall to a set of sessions. It is the only filter those endpoints take, so any other
key is a 422 rather than being dropped (a confinement a server silently ignores hands a client everything
it meant to fence off). The value is a session id, a list of them, or `{"in": [...]}`; at most
`MAX_SESSIONS`; an empty list is accepted and fails closed (nothing is recalled). With `session_id` also
given, it must be one of the allowed sessions.
"""

from __future__ import annotations

from typing import Any

from honcho_local.errors import InvalidInput

MAX_SESSIONS = 1_000


def session_allowlist(filters: Any, session_id: str | None = None) -> list[str] | None:
    """The allowed session ids (None: no allowlist), or `InvalidInput` for anything else."""
    if filters is None or filters == {}:
        return None
    if not isinstance(filters, dict) or set(filters) != {"session_id"}:
        keys = ", ".join(sorted(map(str, filters))) if isinstance(filters, dict) else type(filters).__name__
        raise InvalidInput(f"filters here take only 'session_id' (a session allowlist); got {keys}")
    value = filters["session_id"]
    if isinstance(value, dict):
        if set(value) != {"in"}:
            raise InvalidInput("filters.session_id takes a session id, a list of them, or {\"in\": [...]}")
        value = value["in"]
    ids = [value] if isinstance(value, str) else value
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidInput("filters.session_id takes a session id, a list of them, or {\"in\": [...]}")
    if len(ids) > MAX_SESSIONS:
        raise InvalidInput(f"filters.session_id names at most {MAX_SESSIONS:,} sessions, got {len(ids):,}")
    if session_id is not None and session_id not in ids:
        raise InvalidInput(f"session_id {session_id!r} must be one of the sessions in filters.session_id")
    return list(dict.fromkeys(ids))
