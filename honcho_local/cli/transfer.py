"""`honcho-local export --to URL` and `honcho-local import --from URL`: a workspace carried between this home's
running server and any Honcho v3 server, both through HTTP (`honcho_local.transfer`; docs/migration.md).

The local side is the running server of the data home, found through `<home>/server.json` and called with
the owner token written there, as `honcho-local mcp` does: the store file is never opened here.
"""

from __future__ import annotations

from pathlib import Path

import click

from honcho_local import transfer as moves
from honcho_local.cli.common import handle_errors, home_option, settings_from
from honcho_local.cli.remote import RunningServer, find_server
from honcho_local.client.http import Api, HonchoClientError
from honcho_local.errors import HonchoLocalError

REMOTE_HELP = "API key for the other server (default: $HONCHO_API_KEY); none when it runs without auth."


def local_api(home: Path) -> Api:
    """The running server of `home`, or a one-line error saying how to start it."""
    found = find_server(home)
    if not isinstance(found, RunningServer):
        why = f" ({found})" if found else ""
        raise HonchoLocalError(f"no honcho-local server is running for {home}{why}: start one with "
                               f"`honcho-local serve --home {home}` and run this again")
    return Api(found.url, found.token)


def run(source: Api, target: Api, workspace: str | None) -> None:
    """Carry, echo progress on stderr and the counts on stdout; a refused or failed request is a one-line error."""
    try:
        counts = moves.transfer(source, target, workspace, log=lambda line: click.echo(line, err=True))
    except HonchoClientError as exc:
        again = " (run the same command again to resume: what is already there is kept)" if exc.retryable else ""
        raise HonchoLocalError(f"{exc}{again}") from exc
    finally:
        source.close()
        target.close()
    click.echo(f"{source.base_url} -> {target.base_url}: {counts.line()}")


@click.command("export")
@click.option("--to", "url", required=True, help="Base URL of the Honcho v3 server to carry the workspace to.")
@click.option("--api-key", envvar="HONCHO_API_KEY", default=None, help=REMOTE_HELP)
@click.option("--workspace", default=None, help="The workspace to carry (default: every workspace).")
@home_option
@click.pass_context
@handle_errors
def export(ctx: click.Context, url: str, api_key: str | None, workspace: str | None) -> None:
    """Replay this home's workspaces into another Honcho v3 server (resumable; see docs/migration.md)."""
    run(local_api(settings_from(ctx).home), Api(url, api_key), workspace)


@click.command("import")
@click.option("--from", "url", required=True, help="Base URL of the Honcho v3 server to carry the workspace from.")
@click.option("--api-key", envvar="HONCHO_API_KEY", default=None, help=REMOTE_HELP)
@click.option("--workspace", default=None, help="The workspace to carry (default: every workspace).")
@home_option
@click.pass_context
@handle_errors
def import_(ctx: click.Context, url: str, api_key: str | None, workspace: str | None) -> None:
    """Replay a Honcho v3 server's workspaces into this home's running server (resumable; see docs/migration.md)."""
    run(Api(url, api_key), local_api(settings_from(ctx).home), workspace)
