"""`serve` (the main job) and `worker`."""

from __future__ import annotations

import sys

import click

from honcho_local.cli.common import (
    handle_errors,
    home_option,
    human,
    rich_progress,
    settings_from,
)
from honcho_local.config import Settings
from honcho_local.localnet import check_bind


@click.command()
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option("--offline", is_flag=True, default=None, help="Refuse to download missing models.")
@click.option("--allow-remote", is_flag=True, default=None,
              help="Allow a non-loopback --host (with auth on, AUTH_USE_AUTH, or --insecure-no-auth).")
@click.option("--insecure-no-auth", is_flag=True, default=None,
              help="Serve a non-loopback --host with auth off: anyone who reaches it can read and write everything.")
@home_option
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str | None, port: int | None, offline: bool | None,
          allow_remote: bool | None, insecure_no_auth: bool | None) -> None:
    """Run the HTTP API (and the embedded worker) on the data home."""
    settings = settings_from(ctx, host=host, port=port, offline=offline or None, allow_remote=allow_remote or None,
                             insecure_no_auth=insecure_no_auth or None)
    # before models are fetched or the port bound
    if warning := check_bind(settings.host, settings.allow_remote, settings.auth_use_auth, settings.insecure_no_auth):
        click.echo(f"warning: {warning}", err=True)
    resolve_models_with_progress(settings)
    from honcho_local.server import run_server

    run_server(settings)


@click.command()
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
@home_option
@click.pass_context
@handle_errors
def worker(ctx: click.Context, timeout: float | None) -> None:
    """Drain the reasoning queue without serving HTTP (the server must not be running)."""
    from honcho_local.wiring import build_services

    settings = settings_from(ctx)
    services = build_services(settings, with_worker=True)
    try:
        caught_up = services.worker.drain(timeout)
        status = services.queue_status_all()
        click.echo(f"{'caught up' if caught_up else 'not caught up'}: {status['completed_work_units']} completed, "
                   f"{status['pending_work_units']} pending, {status['failed_work_units']} failed")
        for error in status["errors"]:
            click.echo(f"  failed {error['work_unit']}: {error['error']}", err=True)
    finally:
        services.close()
    sys.exit(0 if caught_up else 1)


def resolve_models_with_progress(settings: Settings) -> None:
    """Fetch the configured models if missing (what `serve` runs on first start), saying first what
    is fetched, how big, from where and to where."""
    from honcho_local.llm.manage import missing_configured, resolve_configured, source_label

    missing = missing_configured(settings)
    if missing and not settings.offline:
        what = " and ".join(f"{s.name} ({human(s.size)}, from {source_label(s)})" for s in missing)
        click.echo(f"First start: fetching {what} into {settings.resolved_models_dir}, "
                   f"{human(sum(s.size for s in missing))} in all, once per user; later starts need no network.")
    bar, update = rich_progress(in_bytes=True)
    with bar:
        resolve_configured(settings, progress=update)
