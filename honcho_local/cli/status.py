"""`honcho-local status`: ask a running server (`GET /status`) what it is doing and print it:
the queue with the units running and their step, the models, and the worker's recent throughput.

The server owns the DuckDB file, so this goes over HTTP only; with no server answering it says so
in one line, names `honcho-local serve`, and exits 1.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
import httpx

from honcho_local import serverinfo
from honcho_local.cli.common import EXIT_ERROR, handle_errors, home_option, settings_from
from honcho_local.cli.remote import RunningServer, find_server
from honcho_local.config import Settings

SHOWN_ERRORS = 5


def server_url(settings: Settings) -> str:
    """Where `serve` with these settings listens (a wildcard bind is reached on loopback)."""
    return serverinfo.loopback_url(settings.host, settings.port)


def fetch_status(url: str, minutes: float, serve: str = "honcho-local serve",
                 token: str | None = None) -> dict[str, Any] | str:
    """The server's status, or a one-line reason it could not be had (`serve`: the command to start one;
    `token`: the owner token or an admin key, which a server with auth on asks for)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        response = httpx.get(f"{url}/status", params={"minutes": minutes}, timeout=10.0, headers=headers)
    except httpx.TransportError:
        return f"no honcho-local server answers at {url}: start one with `{serve}`"
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text[:200]
        return f"{url}/status answered HTTP {response.status_code}: {detail}"
    return response.json()


def _queue_lines(queue: dict[str, Any]) -> list[str]:
    lines = [(f"queue: {queue['total_work_units']} work units: {queue['completed_work_units']} completed, "
              f"{queue['in_progress_work_units']} in progress, {queue['pending_work_units']} pending, "
              f"{queue['failed_work_units']} failed")]
    for run in queue["running"]:
        who = f"peer {run['observed_id']}" if run["observed_id"] else run["kind"]
        lines.append(f"  running: {run['workspace_id']}/{run['session_id']} {who}: {run['step']} "
                     f"({run['step_elapsed_s']:.1f} s; unit running {run['elapsed_s']:.1f} s)")
    errors = queue.get("errors", [])
    for error in errors[:SHOWN_ERRORS]:
        lines.append(f"  failed: {error['work_unit']} (attempt {error['attempts']}): {error['error']}")
    if len(errors) > SHOWN_ERRORS:
        lines.append(f"  ... and {len(errors) - SHOWN_ERRORS} more failed units")
    return lines


def _model_lines(models: dict[str, Any]) -> list[str]:
    lines = ["models:"]
    for role, model in models.items():
        state = "loaded" if model["loaded"] else "off" if model.get("off") else \
            f"unavailable: {model['error']}" if model["error"] else "not loaded yet (loads on first use)"
        lines.append(f"  {role:<10} {model['name']:<24} {state}")
    return lines


def render(status: dict[str, Any], url: str) -> list[str]:
    """The status as lines of text."""
    recent = status["throughput"]
    return [f"honcho-local {status.get('honcho_local', '?')} at {url} (representation version {status['version']})",
            *_queue_lines(status["queue"]), *_model_lines(status["models"]),
            (f"last {recent['minutes']:g} min: {recent['messages_reasoned']} messages reasoned, "
             f"{recent['conclusions_derived']} conclusions, {recent['summaries_written']} summaries, "
             f"{recent['peer_cards_written']} peer cards; {recent['model_calls']} model calls "
             f"({recent['failed_calls']} failed), {recent['model_seconds']:.1f} model-seconds")]


@click.command()
@click.option("--url", default=None, help="The server's URL (default: http://HOST:PORT from the settings).")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=15.0, show_default=True,
              help="Throughput over this many minutes.")
@click.option("--json", "as_json", is_flag=True, help="Print the server's answer as JSON.")
@home_option
@click.pass_context
@handle_errors
def status(ctx: click.Context, url: str | None, minutes: float, as_json: bool) -> None:
    """Ask the running server what it is doing: queue, running units, models, recent throughput."""
    token = None
    if url is None:  # this home's running server (its server.json), else where the settings say it listens
        found = find_server(settings_from(ctx).home)
        url = found.url if isinstance(found, RunningServer) else server_url(settings_from(ctx))
        token = found.token if isinstance(found, RunningServer) else None
    url = url.rstrip("/")
    home = ctx.find_root().ensure_object(dict).get("home")
    token = token or os.environ.get("HONCHO_API_KEY")
    got = fetch_status(url, minutes, f"honcho-local serve --home {home}" if home else "honcho-local serve", token)
    if isinstance(got, str):
        click.echo(f"error: {got}", err=True)
        sys.exit(EXIT_ERROR)
    click.echo(json.dumps(got, indent=2) if as_json else "\n".join(render(got, url)))
