"""What counts as local: loopback hosts, `Host` header names, the origins a browser client may call from,
and whether `serve` may bind an address.

Plain functions over strings (no sockets, no DNS): `config` validates the `cors_origins` and
`allowed_hosts` settings with them, the request guard (`api/guard.py`) and Litestar's CORS config use the
same origin pattern, and `serve` asks `check_bind` before it binds. docs/security.md explains the model.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from honcho_local.errors import InvalidInput

LOOPBACK_NAMES = frozenset({"localhost"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", "[::]", ""})
# a browser serialises an origin as scheme://host[:port], lowercase, without a default port
DEFAULT_CORS_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*",
                        "https://localhost:*", "https://127.0.0.1:*", "https://[::1]:*")
_ORIGIN = re.compile(r"([a-z][a-z0-9+.-]*)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}|\*))?")
_HOST_NAME = re.compile(r"[a-z0-9_.-]+|\[[0-9a-f:.]+\]")
_HOST_VALUE = re.compile(r"([a-z0-9_.-]+|\[[0-9a-f:.]+\])(?::\d{0,5})?")


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name[1:-1] if name.startswith("[") else name)
    except ValueError:
        return None


def is_ip(name: str) -> bool:
    """Whether a host name is an IP literal (an IPv6 one with or without brackets)."""
    return _address(name) is not None


def is_loopback(name: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1 (an IPv6 literal with or without brackets). Nothing is resolved."""
    name = name.lower()
    if name in LOOPBACK_NAMES:
        return True
    address = _address(name)
    return address is not None and address.is_loopback


def host_name(value: str) -> str | None:
    """The name part of a `Host` header value (`[::1]:8000` -> `[::1]`), lowercased; None if malformed."""
    match = _HOST_VALUE.fullmatch(value.strip().lower())
    return match[1] if match else None


def bracketed(host: str) -> str:
    """A bind address as a `Host` header names it: IPv6 literals in brackets, everything lowercased."""
    host = host.lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") and is_ip(host) else host


def check_host_entry(entry: str) -> str:
    """One `allowed_hosts` entry, normalised: a host name or IP literal without a port, or `*` (any)."""
    name = bracketed(entry.strip())
    if name != "*" and not _HOST_NAME.fullmatch(name):
        raise ValueError(f"{entry.strip()!r} is not a host name (no scheme, path or port; IPv6 in brackets), nor '*'")
    return name


def check_origin_entry(entry: str) -> str:
    """One `cors_origins` entry, normalised: `scheme://host[:port]`, port `*` for any port (or none), or `*`."""
    entry = entry.strip().lower().rstrip("/")
    if entry != "*" and not _ORIGIN.fullmatch(entry):
        raise ValueError(f"{entry!r} is not an origin like 'http://localhost:3000' ('*' as the port: any port)")
    return entry


def origin_pattern(origins: Sequence[str]) -> str:
    """One regular expression (for `re.fullmatch`) matching exactly the origins the entries allow."""
    parts = []
    for entry in origins:
        entry = check_origin_entry(entry)
        if entry == "*":
            return ".*"
        scheme, host, port = _ORIGIN.fullmatch(entry).groups()  # type: ignore[union-attr]
        tail = r"(?::\d{1,5})?" if port == "*" else (f":{port}" if port else "")
        parts.append(re.escape(f"{scheme}://{host}") + tail)
    return "|".join(f"(?:{part})" for part in parts) or r"(?!)"


def check_bind(host: str, allow_remote: bool, auth: bool = False, insecure_no_auth: bool = False) -> str | None:
    """Refuse (InvalidInput, one line) a non-loopback bind without `allow_remote`, or without auth unless
    `insecure_no_auth`; the warning to print when it is served without auth anyway, else None."""
    host = host.strip()
    if is_loopback(host):
        return None
    where = f"{host or '0.0.0.0'} (every address of this machine)" if host in WILDCARD_BINDS else host
    if not allow_remote:
        raise InvalidInput(
            f"refusing to serve on {where}: anyone who can reach it could use the server; bind 127.0.0.1 (the "
            "default), or pass --allow-remote (setting allow_remote) with auth on (AUTH_USE_AUTH=true and "
            "AUTH_JWT_SECRET, docs/security.md)")
    if auth:
        return None
    if not insecure_no_auth:
        raise InvalidInput(
            f"refusing to serve on {where} without authentication: set AUTH_USE_AUTH=true and AUTH_JWT_SECRET=<32+ "
            "random characters> (then `honcho-local keys create`, docs/security.md), or pass --insecure-no-auth to "
            "let anyone who can reach it read and change every memory")
    return (f"serving on {where} without authentication (insecure_no_auth): anyone who can reach it can read and "
            "change every memory (docs/security.md)")
