"""API keys: Honcho's JWTs, what they claim, and what a claim may touch. No HTTP here (`api/auth.py` is the
transport side), so the CLI can mint keys from the secret and tests can reason about scopes.

A key is an HS256 JWT signed with the `auth_jwt_secret` setting, with Honcho's claim names
(plastic-labs/honcho `src/security.py`, `JWTParams`): `t` when it was made (not checked), `exp` when it
expires (Honcho writes an ISO 8601 string, `2026-01-01T00:00:00Z`; an RFC 7519 number of seconds is read
too), `ad` admin, `w` workspace, `p` peer, `s` session. A peer or session claim without its workspace is
refused, as Honcho does, since it could name that peer or session in any workspace. Keys minted here and
by Honcho's tooling with the same secret are interchangeable.

Who may touch what (`refusal`) follows Honcho's `auth()`: an admin key everything; otherwise the route's
workspace must be the key's, a session key reaches only routes of its session, a peer key only routes of its
peer, a workspace key every route of its workspace. Verified keys are cached by their text (`Verifier`), and
the expiry is checked again on every hit.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from honcho_local.errors import HonchoLocalError, InvalidInput

ALGORITHM = "HS256"
NOT_PERMITTED = "JWT not permissioned for this resource"
ADMIN_ONLY = "Resource requires admin privileges"
_CACHE_MAX = 4096
_DURATION = re.compile(r"(\d{1,9})\s*([smhdw])")
_ID = re.compile(r"[a-zA-Z0-9_-]{1,512}")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Unauthenticated(HonchoLocalError):
    """No key, a key that does not verify, an expired key, or a key without the scope a route needs (HTTP 401,
    as Honcho answers all four)."""


@dataclass(frozen=True)
class Claims:
    """What a verified key says: admin, or a workspace, optionally narrowed to a peer or a session."""

    admin: bool = False
    workspace: str | None = None
    peer: str | None = None
    session: str | None = None
    expires: float | None = None  # POSIX seconds

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and self.expires < (time.time() if now is None else now)


ADMIN = Claims(admin=True)


def utc_iso(moment: dt.datetime) -> str:
    """Honcho's `format_datetime_utc`: UTC, whole seconds, `Z` (a naive moment is taken as UTC)."""
    moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def check_scope(workspace: str | None, peer: str | None, session: str | None, admin: bool = False) -> None:
    """The rules of a key's shape, at minting (InvalidInput) as Honcho's keys route states them."""
    for name, value in (("workspace_id", workspace), ("peer_id", peer), ("session_id", session)):
        if value is not None and not _ID.fullmatch(value):
            raise InvalidInput(f"{name} may contain only letters, digits, '_' and '-' (1-512 characters)")
    if not admin and not (workspace or peer or session):
        raise InvalidInput("At least one of workspace_id, peer_id, or session_id must be provided")
    if (peer or session) and not workspace:
        raise InvalidInput("workspace_id is required when scoping a key to a peer or session")


def mint(secret: str, *, admin: bool = False, workspace: str | None = None, peer: str | None = None,
         session: str | None = None, expires: dt.datetime | None = None) -> str:
    """A signed key with Honcho's claims (only those that are set)."""
    check_scope(workspace, peer, session, admin)
    if not secret:
        raise InvalidInput("AUTH_JWT_SECRET is not set, cannot create a key")
    claims: dict[str, Any] = {"t": utc_iso(dt.datetime.now(dt.UTC)), "exp": utc_iso(expires) if expires else None,
                              "ad": True if admin else None, "w": workspace, "p": peer, "s": session}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret.encode(), algorithm=ALGORITHM)


def _expiry(value: Any) -> float | None:
    """`exp` as POSIX seconds: Honcho's ISO string (naive = UTC) or an RFC 7519 number; None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("exp is a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        moment = dt.datetime.fromisoformat(value.strip())
        return (moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment).timestamp()
    raise ValueError("exp is neither a date nor a number")


def _text(decoded: dict[str, Any], name: str) -> str | None:
    value = decoded.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"claim {name} is not a string")
    return value


def decode(secret: str, token: str) -> Claims:
    """The claims of a key signed with `secret`; Unauthenticated with Honcho's words when it is not one."""
    try:
        decoded = jwt.decode(token, secret.encode(), algorithms=[ALGORITHM],
                             options={"verify_exp": False, "require": []})
        admin = decoded.get("ad") is True
        claims = Claims(admin=admin, workspace=_text(decoded, "w"), peer=_text(decoded, "p"),
                        session=_text(decoded, "s"), expires=_expiry(decoded.get("exp")))
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
        raise Unauthenticated("Invalid JWT") from None
    if (claims.peer or claims.session) and not claims.workspace:
        raise Unauthenticated("Invalid JWT scope: peer/session token missing workspace")
    return claims


class Verifier:
    """`decode` with a cache by token text: a hot route pays one dict lookup and an expiry compare."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.clock = clock
        self._known: dict[str, Claims] = {}

    def claims(self, token: str) -> Claims:
        """The key's claims; Unauthenticated if it does not verify or has expired (checked on every call)."""
        found = self._known.get(token)
        if found is None:
            found = decode(self.secret, token)  # raises: a bad token is never cached
            if len(self._known) >= _CACHE_MAX:
                self._known.clear()
            self._known[token] = found
        if found.expired(self.clock()):
            raise Unauthenticated("JWT expired")
        return found


def refusal(claims: Claims, workspace: str | None, peer: str | None = None, session: str | None = None) -> str | None:
    """Why `claims` may not use a route of (workspace, peer, session), or None when it may. A route that
    names none of them is admin-only here (Honcho's handlers decide those case by case)."""
    if claims.admin:
        return None
    if not (workspace or peer or session):
        return ADMIN_ONLY
    if workspace and claims.workspace != workspace:
        return NOT_PERMITTED
    if claims.session is not None:
        return None if session and claims.session == session else NOT_PERMITTED
    if claims.peer is not None:
        return None if peer and claims.peer == peer else NOT_PERMITTED
    return None if claims.workspace is not None else NOT_PERMITTED


def creation_refusal(claims: Claims, kind: str, workspace: str | None, new_id: Any) -> str | None:
    """Why `claims` may not get-or-create the `kind` ("workspace", "peer", "session") `new_id` in `workspace`
    (Honcho's get-or-create handlers): the workspace must be the key's, and a peer or session key may
    only name its own peer or session. A peer key may create sessions and a session key peers, as in Honcho."""
    if claims.admin:
        return None
    if kind == "workspace":
        return None if isinstance(new_id, str) and new_id == claims.workspace else NOT_PERMITTED
    if claims.workspace is None or claims.workspace != workspace:
        return NOT_PERMITTED
    own = claims.peer if kind == "peer" else claims.session
    return None if own is None or own == new_id else NOT_PERMITTED


def parse_expiry(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """`--expires`: a duration (`30d`, `12h`, `90m`, `2w`, `45s`, combinable: `1d12h`) from now, or an ISO 8601
    date or time (naive = UTC). InvalidInput otherwise, or when the moment is already past."""
    now = now or dt.datetime.now(dt.UTC)
    text = text.strip()
    if _DURATION.fullmatch(text) or (text and re.fullmatch(r"(?:\d{1,9}\s*[smhdw]\s*)+", text)):
        seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(text))
        moment = now + dt.timedelta(seconds=seconds)
    else:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"--expires {text!r}: give a duration like 30d, 12h, 90m or 2w, or an ISO date "
                               "like 2027-01-31") from None
        moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
    if moment <= now:
        raise InvalidInput(f"--expires {text!r} is not in the future")
    return moment
