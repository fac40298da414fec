"""Command line: `honcho-local serve | worker | config show | models ...`. Maps errors to exit codes once."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from honcho_local import __version__
from honcho_local.config import Settings, load_settings, settings_sources
from honcho_local.errors import HonchoLocalError, InvalidInput, StoreLocked

EXIT_USAGE = 2
EXIT_ERROR = 1
EXIT_LOCKED = 3


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into a one-line message on stderr and a meaningful exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StoreLocked as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(EXIT_LOCKED)
        except InvalidInput as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(EXIT_USAGE)
        except HonchoLocalError as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    return load_settings(ctx.obj.get("home"), **overrides)


@click.group()
@click.version_option(__version__, prog_name="honcho-local")
@click.option("--home", type=click.Path(file_okay=False), default=None,
              help="Data home (default: $HONCHO_LOCAL_HOME or the platform's user data dir).")
@click.pass_context
def main(ctx: click.Context, home: str | None) -> None:
    """honcho-local: a local-first, Honcho-compatible memory server."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


@main.command()
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option("--home", "serve_home", type=click.Path(file_okay=False), default=None, help="Data home.")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str | None, port: int | None, serve_home: str | None) -> None:
    """Run the HTTP API (and the embedded worker) on the data home."""
    from honcho_local.server import run_server

    if serve_home:
        ctx.obj["home"] = serve_home
    settings = _settings(ctx, host=host, port=port)
    run_server(settings)


@main.group()
def config() -> None:
    """Inspect settings."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
@handle_errors
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print the effective settings and where each value came from."""
    settings = _settings(ctx)
    _, origin = settings_sources(settings.home, os.environ)
    rows = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name == "openai_api_key" and value:
            value = "***"
        source = "cli/env" if name == "home" else origin.get(name, "default")
        rows.append((name, value, source))
    if as_json:
        click.echo(json.dumps({n: {"value": str(v) if v is not None else None, "source": s} for n, v, s in rows}, indent=2))
        return
    width = max(len(n) for n, _, _ in rows)
    for name, value, source in rows:
        click.echo(f"{name.ljust(width)}  {value!s:<40}  ({source})")


if __name__ == "__main__":  # pragma: no cover
    main()
