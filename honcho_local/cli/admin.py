"""Store administration: `reprocess`, `versions`, `recheck`, `backup`, `restore`, `config show`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from honcho_local.cli.common import (
    handle_errors,
    home_option,
    human,
    rich_progress,
    settings_from,
)
from honcho_local.config import Settings, settings_sources
from honcho_local.errors import InvalidInput, StoreLocked


def _parse_since(text: str | None) -> Any:
    import datetime as dt
    import re

    if not text:
        return None
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - dt.timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount})
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"--since takes 30d, 12h, 45m or an ISO date, not {text!r}") from exc


@click.command()
@click.option("--version", "name", required=True, help="Name of the new representation version.")
@click.option("--since", default=None, help="Only messages newer than this: 30d, 12h, 45m or an ISO date.")
@click.option("--workspace", default=None, help="Only this workspace.")
@click.option("--model", default=None, help="Chat model for this version (catalog name or GGUF path).")
@click.option("--prompt-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Extra instructions for the deriver of this version.")
@home_option
@click.pass_context
@handle_errors
def reprocess(ctx: click.Context, name: str, since: str | None, workspace: str | None, model: str | None,
              prompt_file: str | None) -> None:
    """Re-derive the event log into a new representation version (resumable; old versions untouched)."""
    from rich.progress import Progress

    from honcho_local.services.versions import VersionSpec, create_version
    from honcho_local.wiring import build_services, reasoner_for
    from honcho_local.worker import Worker

    settings = settings_from(ctx)
    services = build_services(settings)
    try:
        prompt = open(prompt_file, encoding="utf-8").read().strip() if prompt_file else None
        spec, created = create_version(services.store, settings, VersionSpec(name, model, prompt,
                                                                             _parse_since(since), workspace))
        click.echo(f"{'created' if created else 'resuming'} version {name}")
        reasoner = reasoner_for(settings, services.store, services.reasoner.llm, spec, services.models.embedder)
        worker = Worker([reasoner])
        keys = worker.lagging(waiting=True)
        with Progress() as progress:
            task = progress.add_task(f"reprocessing into {name}", total=len(keys))
            for key in keys:
                worker.run(key)
                progress.advance(task)
        left = worker.lagging(waiting=True)
        click.echo(f"version {name}: {len(keys) - len(left)} of {len(keys)} work units done"
                   + (f"; {len(left)} failed (run the same command again to retry)" if left else ""))
        click.echo(f"make it the default for reads with: honcho-local versions activate {name}")
    finally:
        services.close()
    sys.exit(1 if left else 0)


@click.group()
def versions() -> None:
    """List, activate and roll back representation versions."""


def _store(ctx: click.Context) -> Any:
    from honcho_local.services.offline import OfflineStore

    return OfflineStore(settings_from(ctx).db_path)


def _on_store(ctx: click.Context, local: Any, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """`local(store)` on the store file (a `services.offline.OfflineStore`), or, while the running server
    holds it, the admin route `method path` of that server (`cli/remote.py`)."""
    from honcho_local.cli.remote import through_server

    try:
        store = _store(ctx)
    except StoreLocked as locked:
        return through_server(settings_from(ctx).home, locked, method, path, body)
    try:
        return local(store)
    finally:
        store.close()


@versions.command("list")
@home_option
@click.pass_context
@handle_errors
def versions_list(ctx: click.Context) -> None:
    """Every version, its model and size; * marks the default for reads."""
    import datetime as dt

    rows = _on_store(ctx, lambda store: store.list_versions(), "GET", "/admin/versions")
    click.echo(f"  {'name':<12} {'status':<8} {'chat model':<22} {'conclusions':>19}  {'parent':<13} created"
               "  (* = default for reads)")
    for v in rows:
        created = v["created_at"]  # a datetime from the file, an ISO string from the server
        created = created if isinstance(created, dt.datetime) else dt.datetime.fromisoformat(created)
        mark = "*" if v["default"] else " "
        click.echo(f"{mark} {v['name']:<12} {v['status']:<8} {v['reasoning_model']:<22} "
                   f"{v['conclusions']:>7} conclusions  from {v['parent'] or '-':<8} {created:%Y-%m-%d %H:%M}")


@versions.command("activate")
@click.argument("name")
@home_option
@click.pass_context
@handle_errors
def versions_activate(ctx: click.Context, name: str) -> None:
    """Make NAME the default version for reads (through the running server, if one holds the store)."""
    from urllib.parse import quote

    _on_store(ctx, lambda store: store.activate(name), "POST", f"/admin/versions/{quote(name, safe='')}/activate", {})
    click.echo(f"{name} is now the default representation version")


@versions.command("rollback")
@home_option
@click.pass_context
@handle_errors
def versions_rollback(ctx: click.Context) -> None:
    """Make the previous default version the default again (through the running server, if one holds the store)."""
    name = _on_store(ctx, lambda store: {"default": store.rollback()}, "POST", "/admin/versions/rollback", {})["default"]
    click.echo(f"rolled back: {name} is the default representation version again")


@click.command()
@click.option("--workspace", default=None, help="Only this workspace.")
@click.option("--version", "name", default=None, help="Representation version (default: the default for reads).")
@click.option("--dry-run", is_flag=True, help="Only count and show what would be removed.")
@home_option
@click.pass_context
@handle_errors
def recheck(ctx: click.Context, workspace: str | None, name: str | None, dry_run: bool) -> None:
    """Re-apply the deriver's output checks to stored conclusions: remove facts about a peer that
    restate another speaker's nearby line, and date relative time words ("yesterday") from when the
    source was said (for conclusions derived before these checks existed); rebuild peer cards from the
    conclusions left. Needs the store to itself: stop the server first."""
    with _store(ctx) as store:
        version = name or store.default_version()
        result = store.recheck(version, workspace, dry_run)
    for c in result.flagged[:5]:
        click.echo(f"  {c['workspace_id']}/{c['observed_id']}: {c['content'][:100]}")
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{version}: checked {result.checked} explicit conclusions; {verb} {len(result.flagged)} that restate "
               f"another speaker's line and {len(result.deductions)} deductions resting only on them; "
               f"{'would date' if dry_run else 'dated'} relative time words in {len(result.dated)}; "
               f"{'would rebuild' if dry_run else 'rebuilt'} {len(result.cards)} peer cards from the conclusions left")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--no-vectors", is_flag=True,
              help="Leave the embedding vectors out (a fraction of the size); `restore` embeds the texts again.")
@home_option
@click.pass_context
@handle_errors
def backup(ctx: click.Context, directory: str, no_vectors: bool) -> None:
    """Write the data home's store to DIRECTORY (new or empty) as Parquet files and a manifest. While
    `honcho-local serve` runs, the server writes it from one snapshot and goes on serving."""
    from honcho_local.cli.remote import through_server
    from honcho_local.services.backup import backup as run_backup

    settings = settings_from(ctx)
    try:
        manifest = run_backup(settings.db_path, Path(directory), vectors=not no_vectors)
    except StoreLocked as locked:
        manifest = through_server(settings.home, locked, "POST", "/admin/backup",
                                  {"directory": str(Path(directory).resolve()), "vectors": not no_vectors})
    rows = sum(manifest["tables"].values())
    size = sum(f.stat().st_size for f in Path(directory).iterdir())
    click.echo(f"backed up {settings.db_path} to {directory}: {len(manifest['tables'])} tables, {rows} rows, "
               f"{human(size)}{'' if manifest['vectors'] else ' (no vectors)'}")


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@home_option
@click.pass_context
@handle_errors
def restore(ctx: click.Context, directory: str) -> None:
    """Restore a backup made by `honcho-local backup` into this data home, which must hold no store yet.
    A backup without vectors is embedded again with the configured embedding model, which may differ from
    the one it was made with (how to switch embedding models; docs/admin.md)."""
    from honcho_local.llm import build_embedder
    from honcho_local.services.backup import restore as run_restore

    settings = settings_from(ctx)

    bar, update = rich_progress()

    def embedder() -> Any:  # only what re-embedding needs: the embedding model, fetched if missing
        from honcho_local.llm.catalog import embeddings_off, find_spec, models_dir
        from honcho_local.llm.fetch import ensure_model

        if not embeddings_off(settings):
            directory = models_dir(settings)
            ensure_model(find_spec(settings.embedding_model, directory), directory, progress=update)
        return build_embedder(settings)

    with bar:
        result = run_restore(settings.db_path, Path(directory), embedder_factory=embedder, progress=update)
    embedded = result["embedded"]
    click.echo(f"restored {directory} into {settings.db_path}: {sum(result['tables'].values())} rows; embedded "
               f"{embedded['messages']} messages and {embedded['conclusions']} conclusions again")


@click.group()
def config() -> None:
    """Inspect settings."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@home_option
@click.pass_context
@handle_errors
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print the effective settings and where each value came from."""
    settings = settings_from(ctx)
    _, origin = settings_sources(settings.home, os.environ)
    rows = []
    for name in Settings.model_fields:
        value, source = getattr(settings, name), origin.get(name, "default")
        if name == "home":
            source = "cli/env" if ctx.find_root().obj.get("home") or os.environ.get("HONCHO_LOCAL_HOME") else "default"
        elif name == "models_dir" and value is None:
            value, source = settings.resolved_models_dir, "default (per-user cache)"
        elif name in ("openai_api_key", "auth_jwt_secret") and value:
            value = "***"
        rows.append((name, value, source))
    if as_json:
        typed = {n: {"value": str(v) if isinstance(v, Path) else v, "source": s} for n, v, s in rows}
        click.echo(json.dumps(typed, indent=2))
        return
    width = max(len(n) for n, _, _ in rows)
    click.echo(f"{'setting'.ljust(width)}  {'value':<40}  source")
    for name, value, source in rows:
        click.echo(f"{name.ljust(width)}  {value!s:<40}  {source}")
