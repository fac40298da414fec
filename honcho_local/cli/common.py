"""What every command shares: exit codes, the error-to-exit-code map, `--home`, settings, sizes, progress."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from honcho_local.config import Settings, load_settings
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
            click.echo(f"error: {locked_line(exc)}", err=True)
            sys.exit(EXIT_LOCKED)
        except InvalidInput as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(EXIT_USAGE)
        except HonchoLocalError as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper


def locked_line(exc: StoreLocked) -> str:
    """The store is held (by the running server, normally): say exactly what to run instead (`cli/remote.py`)."""
    from honcho_local.cli.remote import home_of_context, refusal

    home = home_of_context()
    return refusal(exc, home) if home is not None else exc.detail


def _remember_home(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.find_root().ensure_object(dict)["home"] = value


def home_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--home DIR` on a subcommand too (`honcho-local --home X cmd` and `honcho-local cmd --home X` agree)."""
    return click.option("--home", type=click.Path(file_okay=False), default=None, expose_value=False,
                        is_eager=True, callback=_remember_home,
                        help="Data home (default: $HONCHO_LOCAL_HOME or the platform's user data dir).")(fn)


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    return load_settings(ctx.find_root().ensure_object(dict).get("home"), **overrides)


def human(size: float) -> str:
    """A size in binary units (as the download bars show them)."""
    if not size:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def rich_progress(in_bytes: bool = False):
    """A rich progress bar as a `(what, done, total)` callback, and the Progress to stop. With
    `in_bytes`, done/total are bytes and the bar shows size, speed and time left."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = ((DownloadColumn(binary_units=True), TransferSpeedColumn(), TextColumn("ETA"), TimeRemainingColumn()) if in_bytes
               else (MofNCompleteColumn(), TimeElapsedColumn()))
    bar = Progress(TextColumn("{task.description}"), BarColumn(), *columns, transient=False)
    tasks: dict[str, Any] = {}

    def update(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task(what, total=total or None)
        bar.update(tasks[what], completed=done, total=total or None)

    return bar, update
