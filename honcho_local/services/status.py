"""The server's own status across workspaces (a honcho-local extension, `GET /status`, read by
`honcho-local status`): the queue (unit counts and the units running, with their step), the configured
models and whether each is loaded, and what the worker did over the last minutes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from honcho_local.errors import InvalidInput
from honcho_local.services.queue_status import queue_totals
from honcho_local.store import Store, units, utcnow

MAX_MINUTES = 7 * 24 * 60


def server_status(store: Store, version: str, running: set[str], activity: list[dict[str, Any]],
                  models: dict[str, Any], minutes: float) -> dict[str, Any]:
    """`running`: the keys the worker holds; `activity`: `Activity.running()`; `models`: `Models.state()`."""
    if not 0 < minutes <= MAX_MINUTES:
        raise InvalidInput(f"minutes must be above 0 and at most {MAX_MINUTES}")
    since = utcnow() - timedelta(minutes=minutes)
    recent = store.read(lambda cur: units.recent_runs(cur, version, since))
    recent["model_seconds"] = round(float(recent["model_seconds"]), 3)
    return {"version": version, "queue": queue_totals(store, version, running, activity), "models": models,
            "throughput": {"minutes": minutes, **recent}}
