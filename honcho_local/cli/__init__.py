"""Command line: `honcho-local serve | worker | models … | versions … | backup | restore | bench … | mcp | keys … |
export | import`.

Only this package imports click. Each module holds one family of commands; `common` maps domain errors
to exit codes once and gives every command `--home`.
"""

from __future__ import annotations

import click

from honcho_local import __version__
from honcho_local.cli import admin, bench, keys, mcp, models, run, status, transfer
from honcho_local.cli.common import EXIT_ERROR, EXIT_LOCKED, EXIT_USAGE, handle_errors

__all__ = ["main", "handle_errors", "EXIT_ERROR", "EXIT_LOCKED", "EXIT_USAGE"]


@click.group()
@click.version_option(__version__, prog_name="honcho-local")
@click.option("--home", type=click.Path(file_okay=False), default=None,
              help="Data home (default: $HONCHO_LOCAL_HOME or the platform's user data dir).")
@click.pass_context
def main(ctx: click.Context, home: str | None) -> None:
    """honcho-local: a local-first, Honcho-compatible memory server."""
    ctx.ensure_object(dict)["home"] = home


for command in (run.serve, run.worker, admin.reprocess, admin.versions, admin.recheck, admin.backup,
                admin.restore, admin.config, models.models, bench.bench, status.status, mcp.mcp, keys.keys,
                transfer.export, transfer.import_):
    main.add_command(command)
