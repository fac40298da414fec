"""`<home>/server.json`: how the running `honcho-local serve` of a data home is found and spoken to.

`serve` writes it once it listens (mode 0600: its URL, its pid and a fresh admin token for the admin
routes, `api/admin.py`) and removes it when it stops cleanly. While the server holds the DuckDB file,
the CLI reads it to do `backup` and `versions …` through the server (`cli/remote.py`). A server killed
with -9 leaves the file behind: readers check that its pid lives and ignore it otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

FILENAME = "server.json"


def path_of(home: Path) -> Path:
    return Path(home) / FILENAME


def loopback_url(host: str, port: int) -> str:
    """The URL a local client uses for a server bound to `host:port` (a wildcard bind is reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def publish(home: Path, url: str, pid: int) -> str:
    """Write the server file (0600, replaced whole) and return the new admin token."""
    token = secrets.token_urlsafe(32)
    target = path_of(home)
    side = target.with_name(f".{FILENAME}.{pid}")
    fd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # a leftover side file keeps its old mode through O_CREAT
        json.dump({"url": url, "pid": pid, "token": token}, out)
        out.write("\n")
    os.replace(side, target)
    return token


def withdraw(home: Path, token: str) -> None:
    """Remove the server file if it is still the one this server wrote (its token)."""
    info = read(home)
    if info is not None and info.get("token") == token:
        path_of(home).unlink(missing_ok=True)


def read(home: Path) -> dict[str, Any] | None:
    """The server file's content, or None when there is none (or it is not a server file)."""
    try:
        info = json.loads(path_of(home).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    if not isinstance(info, dict) or not {"url", "pid", "token"} <= info.keys():
        return None
    return info


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (it may belong to another user)."""
    try:
        pid = int(pid)
        if pid <= 0:  # 0 and negatives name process groups, not a process
            return False
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, TypeError, ValueError):
        return False
    return True
