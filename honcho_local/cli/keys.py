"""`honcho-local keys create`: an API key (Honcho's scoped JWT, `honcho_local.apikeys`) for a server with auth on.

With this home's server running, the server mints it (`POST /v3/keys`, Honcho's route, called with the owner
token from `<home>/server.json`): the key is then signed with the secret that server really uses. With no
server running, the key is minted here from the `auth_jwt_secret` setting (env `AUTH_JWT_SECRET` or
config.toml), the same secret `serve` will verify it with. `--admin` keys (Honcho's route mints none) are always
minted here. The key alone goes to stdout, what it allows to stderr.
"""

from __future__ import annotations

import datetime as dt

import click

from honcho_local import apikeys
from honcho_local.cli.common import handle_errors, home_option, settings_from
from honcho_local.cli.remote import RunningServer, admin_call, find_server
from honcho_local.config import Settings
from honcho_local.errors import HonchoLocalError, InvalidInput


@click.group()
def keys() -> None:
    """API keys for a server with auth on (AUTH_USE_AUTH; docs/security.md)."""


def _minted_here(settings: Settings, why: str, **scope: object) -> str:
    if not settings.auth_jwt_secret:
        raise HonchoLocalError(f"{why} and no AUTH_JWT_SECRET is set here: start the server (`honcho-local serve "
                               f"--home {settings.home}`) or set AUTH_JWT_SECRET to the secret it uses")
    return apikeys.mint(settings.auth_jwt_secret, **scope)  # type: ignore[arg-type]


def _describe(admin: bool, workspace: str | None, peer: str | None, session: str | None,
              expires: dt.datetime | None) -> str:
    what = "admin key" if admin else (f"key for session {session!r} of workspace {workspace!r}" if session else
                                      f"key for peer {peer!r} of workspace {workspace!r}" if peer else
                                      f"key for workspace {workspace!r}")
    return f"{what}, {'expires ' + apikeys.utc_iso(expires) if expires else 'never expires'}"


@keys.command("create")
@click.option("--workspace", default=None, help="Workspace the key is for (needed unless --admin).")
@click.option("--peer", default=None, help="Narrow the key to this peer of the workspace.")
@click.option("--session", default=None, help="Narrow the key to this session of the workspace.")
@click.option("--expires", default=None, help="Expiry: a duration from now (30d, 12h, 90m, 2w) or an ISO date.")
@click.option("--admin", is_flag=True, help="An admin key (everything; minted here from AUTH_JWT_SECRET).")
@home_option
@click.pass_context
@handle_errors
def create(ctx: click.Context, workspace: str | None, peer: str | None, session: str | None, expires: str | None,
           admin: bool) -> None:
    """Make an API key scoped to a workspace, a peer or a session, and print it."""
    settings = settings_from(ctx)
    if admin and (workspace or peer or session):
        raise InvalidInput("--admin keys reach everything: leave out --workspace, --peer and --session")
    moment = apikeys.parse_expiry(expires) if expires else None
    apikeys.check_scope(workspace, peer, session, admin)
    scope = {"admin": admin, "workspace": workspace, "peer": peer, "session": session, "expires": moment}
    found = None if admin else find_server(settings.home)
    if isinstance(found, RunningServer):
        params = {"workspace_id": workspace, "peer_id": peer, "session_id": session,
                  "expires_at": apikeys.utc_iso(moment) if moment else None}
        key = admin_call(found, "POST", "/v3/keys", params={k: v for k, v in params.items() if v is not None})["key"]
    else:
        key = _minted_here(settings, "admin keys are minted here" if admin else "no server is running", **scope)
    click.echo(key)
    click.echo(_describe(admin, workspace, peer, session, moment), err=True)
