"""`honcho-local mcp`: the MCP server over stdio, for agents that spawn one (Claude Desktop, Claude Code,
Cursor, OpenCode; docs/mcp.md).

It never opens the DuckDB file, which `serve` owns: the tools (`honcho_local.mcp`) call the running server
of the data home over HTTP, found through `<home>/server.json` like `honcho-local status`. With no server
running it says so in one line on stderr, naming what to run, and exits 1; with `--start` it starts
`honcho-local serve` for the same home in the background (its log in `<home>/serve.log`) and waits for it.
Nothing but MCP messages may reach stdout: the client reads it as the protocol stream. With auth on, the
tools call with `--api-key` (or `$HONCHO_API_KEY`), else with the owner token in the running server's
`server.json` (readable only by its owner, who may do everything anyway).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import click

from honcho_local.cli.common import (
    EXIT_ERROR,
    handle_errors,
    home_option,
    settings_from,
)
from honcho_local.cli.remote import RunningServer, find_server

START_GUARD_S = 600.0  # a hang guard for --start: a first start may download and load models
LOG_NAME = "serve.log"


def _no_server(home: Path, why: str | None) -> None:
    stale = f" ({why})" if why else ""
    click.echo(f"error: no honcho-local server is running for {home}{stale}: start one with "
               f"`honcho-local serve --home {home}`, or run `honcho-local mcp --home {home} --start`", err=True)
    sys.exit(EXIT_ERROR)


def start_server(home: Path) -> str:
    """Start `serve` for `home` in the background, detached from this process's stdio; its URL once it answers."""
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / LOG_NAME
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "honcho_local.cli", "serve", "--home", str(home)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    click.echo(f"honcho-local mcp: started `honcho-local serve --home {home}` (pid {proc.pid}, log {log_path})",
               err=True)
    deadline = time.monotonic() + START_GUARD_S
    while time.monotonic() < deadline:
        found = find_server(home)
        if isinstance(found, RunningServer):
            return found.url
        if proc.poll() is not None:
            click.echo(f"error: `honcho-local serve --home {home}` exited with {proc.returncode}: see {log_path}",
                       err=True)
            sys.exit(EXIT_ERROR)
        time.sleep(0.2)
    click.echo(f"error: `honcho-local serve --home {home}` did not answer: see {log_path}", err=True)
    sys.exit(EXIT_ERROR)


@click.command("mcp")
@click.option("--start", is_flag=True, help="Start `honcho-local serve` for this home if none is running.")
@click.option("--url", default=None, help="Use the server at this URL instead of this home's running server.")
@click.option("--workspace", default=None,
              help="Workspace for calls that name none (default: the mcp_default_workspace setting).")
@click.option("--api-key", envvar="HONCHO_API_KEY", default=None,
              help="API key the tools call the server with when it runs with auth on (default: $HONCHO_API_KEY, "
                   "else the owner token of this home's running server).")
@home_option
@click.pass_context
@handle_errors
def mcp(ctx: click.Context, start: bool, url: str | None, workspace: str | None, api_key: str | None) -> None:
    """Serve Honcho's MCP tools over stdio, through the running server (see docs/mcp.md)."""
    settings = settings_from(ctx)
    if url is None:
        found = find_server(settings.home)
        if isinstance(found, RunningServer):
            url, api_key = found.url, api_key or found.token
        elif start:
            url = start_server(settings.home)
            found = find_server(settings.home)
            api_key = api_key or (found.token if isinstance(found, RunningServer) else None)
        else:
            _no_server(settings.home, found)
    logging.basicConfig(level=logging.WARNING, format="honcho-local mcp: %(levelname)s %(name)s: %(message)s")
    import anyio  # the SDK only now: every other command starts without it

    from honcho_local.mcp.caller import V3
    from honcho_local.mcp.server import build

    v3 = V3(str(url), workspace or settings.mcp_default_workspace, authorization=f"Bearer {api_key}" if api_key else None)
    anyio.run(build(v3).run_stdio_async)
