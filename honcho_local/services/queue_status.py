"""Queue status per work unit (not per queued row, unlike Honcho): total, completed, in progress,
pending and failed units, per session keyed by the session's public id, with each failure's error.

`pending` and `in_progress` reach zero once the worker has caught up with the log; a failed unit
counts as failed (not pending) while it waits for its retry, and its error is listed.

Beyond Honcho's shape (an extra key its SDK ignores): `running`, the units being worked now with the
step each is at and the seconds elapsed (`services.activity`; see docs/worker.md).
"""

from __future__ import annotations

from typing import Any

from honcho_local.store import Store, units
from honcho_local.store.dreams import pending_requests
from honcho_local.store.sessions import get_members


def _state(row: dict[str, Any], running: set[str]) -> str:
    if row["key"] in running:
        return "in_progress"
    if row["head"] <= row["cursor_pk"]:
        return "completed"
    return "failed" if row["status"] == "failed" else "pending"


def _counts(states: list[str]) -> dict[str, int]:
    return {"total_work_units": len(states),
            "completed_work_units": states.count("completed"),
            "in_progress_work_units": states.count("in_progress"),
            "pending_work_units": states.count("pending"),
            "failed_work_units": states.count("failed")}


def _running_among(rows: list[dict[str, Any]], activity: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The running units (`Activity.running()`) that are among the counted rows."""
    keys = {r["key"] for r in rows}
    return [run for run in activity if run["work_unit"] in keys]


def queue_totals(store: Store, version: str, running: set[str], activity: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts over every workspace, the running units and the failed ones (`GET /status`)."""
    rows = store.read(lambda cur: units.unit_heads(cur, version))
    states = [_state(r, running) for r in rows]
    failed = [{"work_unit": r["key"], "error": r["error"], "attempts": r["attempts"]}
              for r, s in zip(rows, states) if s == "failed"]
    return {**_counts(states), "running": _running_among(rows, activity), "errors": failed}


def queue_status(store: Store, version: str, running: set[str], workspace_id: str, observer_id: str | None = None,
                 sender_id: str | None = None, session_id: str | None = None,
                 activity: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    def read(cur: Any) -> list[dict[str, Any]]:
        rows = units.unit_heads(cur, version, workspace_id, session_id)
        if sender_id is None and observer_id is None:
            return rows
        keep = []
        for row in rows:
            if row["kind"] != "representation":
                continue
            if sender_id is not None and row["observed_id"] == sender_id:
                keep.append(row)
            elif observer_id is not None and (row["observed_id"] == observer_id or any(
                    m["peer_id"] == observer_id and m["observe_others"]
                    for m in get_members(cur, workspace_id, row["session_id"]))):
                keep.append(row)
        return keep

    rows, asked = store.read(lambda cur: (read(cur), pending_requests(cur, workspace_id)))
    states = [_state(r, running) for r in rows]
    # a dream asked for counts as a pending unit until the worker has run it (Honcho queues dreams too)
    states += ["pending" for _, observer, observed, _, dream_session, _ in asked
               if (sender_id is None or observed == sender_id) and (observer_id is None or observer == observer_id)
               and (session_id is None or dream_session == session_id)]
    out: dict[str, Any] = _counts(states)
    out["errors"] = [{"session_id": r["session_id"], "work_unit": r["key"], "error": r["error"],
                      "attempts": r["attempts"]} for r, s in zip(rows, states) if s == "failed"]
    out["running"] = _running_among(rows, activity or [])
    if session_id is None:
        sessions: dict[str, list[str]] = {}
        for row, state in zip(rows, states):
            sessions.setdefault(row["session_id"], []).append(state)
        out["sessions"] = {sid: {"session_id": sid, **_counts(st)} for sid, st in sessions.items()}
    return out
