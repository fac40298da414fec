"""The running server of a data home, seen from the CLI: found through `<home>/server.json`
(`honcho_local.serverinfo`) and called on its admin routes (`api/admin.py`) with the token written there.

DuckDB lets one process hold the store file. `backup` and `versions …` open it directly when no server
runs, and go through the server when it holds the file (`through_server`); every other command that
finds the file held says, in one line, exactly what to run instead (`refusal`). `honcho-local status`
finds its server here too.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx

from honcho_local import serverinfo
from honcho_local.errors import BadRequest, Conflict, HonchoLocalError, InvalidInput, NotFound, StoreLocked

ERRORS: dict[int, type[HonchoLocalError]] = {400: BadRequest, 404: NotFound, 409: Conflict, 422: InvalidInput,
                                              503: StoreLocked}
PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RunningServer:
    url: str
    pid: int
    token: str


def find_server(home: Path) -> RunningServer | str | None:
    """The server of `home` that answers; a one-line reason a `server.json` there is stale and ignored
    (its pid is gone, or nothing answers at its URL); None when there is no `server.json`."""
    info = serverinfo.read(home)
    if info is None:
        return None
    path, url, pid = serverinfo.path_of(home), str(info["url"]).rstrip("/"), info["pid"]
    if not serverinfo.pid_alive(pid):
        return f"ignoring stale {path}: its server (pid {pid}) is gone"
    try:
        httpx.get(f"{url}/health", timeout=PROBE_TIMEOUT_S)
    except httpx.TransportError as exc:
        return f"ignoring stale {path}: nothing answers at {url} ({type(exc).__name__})"
    return RunningServer(url, int(pid), str(info["token"]))


def admin_call(server: RunningServer, method: str, path: str, body: dict[str, Any] | None = None,
               params: dict[str, str] | None = None) -> Any:
    """An admin route's JSON answer, or the domain error its `{"detail": ...}` describes."""
    try:
        response = httpx.request(method, f"{server.url}{path}", json=body, params=params,
                                 headers={"Authorization": f"Bearer {server.token}"},
                                 timeout=httpx.Timeout(30.0, read=None))  # a backup takes as long as it takes
    except httpx.TransportError as exc:
        raise HonchoLocalError(f"the server at {server.url} (pid {server.pid}) stopped answering during "
                               f"{method} {path}: {exc}") from exc
    if response.is_success:
        return response.json()
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        detail = response.text[:300]
    error = ERRORS.get(response.status_code, HonchoLocalError)
    raise error(f"{detail} (HTTP {response.status_code} from {server.url})")


def through_server(home: Path, locked: StoreLocked, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """What opening the store failed to do (`locked`), done by the running server of `home` instead."""
    found = find_server(home)
    if not isinstance(found, RunningServer):
        raise locked
    return admin_call(found, method, path, body)


def rerun_command(home: Path) -> str:
    """The command line that was run, as the user can run it again (with `--home`)."""
    args = sys.argv[1:]
    home_given = any(a == "--home" or a.startswith("--home=") for a in args)
    return shlex.join(["honcho-local", *args, *([] if home_given else ["--home", str(home)])])


def refusal(locked: StoreLocked, home: Path) -> str:
    """The one line a command that needs the store file to itself says when it is held."""
    found = find_server(home)
    again, serve = rerun_command(home), shlex.join(["honcho-local", "serve", "--home", str(home)])
    if isinstance(found, RunningServer):
        return (f"the running server (pid {found.pid}, {found.url}) holds the store of {home}, and this command "
                f"needs it to itself: stop the server (Ctrl-C in the terminal running `{serve}`), then run `{again}`")
    note = f"; {found}" if found else ""
    return (f"{locked.detail}{note}: stop the process that holds it (`{serve}`, or a `honcho-local worker` or "
            f"`reprocess` of this home), then run `{again}`")


def home_of_context() -> Path | None:
    """The data home of the command being run, if it can be told."""
    from honcho_local.cli.common import settings_from

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    try:
        return settings_from(ctx).home
    except Exception:  # noqa: BLE001 - settings that fail to load must not hide the refusal itself
        return None
