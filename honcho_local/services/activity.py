"""What the worker is doing right now: the work units running, the step each is at, and what each run
has read and written so far.

One `Activity` is built by `wiring` and handed to the worker and to every `Reasoner`: the worker opens
a run (`begin`) and closes it (`end`, which returns the run's tally for its log line); the reasoner
reports its steps and counts as it goes; queue status and `GET /status` read `running()`.
Calls for a unit that has no open run (a reasoner driven directly, outside the worker) do nothing.
Thread-safe: the worker's consumer threads, the reasoner's calls and request threads share it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from honcho_local.store.units import UnitKey

WAITING = "waiting"  # claimed, its turn not yet come (a session's peers run in lockstep)
READING = "reading"
WRITING = "writing"
EMBEDDING = "embedding messages"
SUMMARY = "summary"
PEER_CARD = "peer card"
_MODEL_STEPS = {"deriver": "deriving (model call)", "summary_short": "summary (model call)",
                "summary_long": "summary (model call)", "peer_profile": "peer card (model call)"}
COUNTS = ("messages", "conclusions", "summaries", "cards", "embedded")
# in a unit's line even at 0 (other counts only when not): a summary unit's `messages` are those it summarised
_ALWAYS_SHOWN = {"representation": ("messages", "conclusions"), "summary": ("summaries",)}


def model_step(task: str) -> str:
    """The step shown while a model call for `task` (a `reasoning_runs.task`) is in flight."""
    return _MODEL_STEPS.get(task, f"{task} (model call)")


@dataclass
class UnitRun:
    """One run of one work unit: where it is and what it has done so far."""

    key: UnitKey
    started: float
    step: str
    step_started: float
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    model_seconds: float = 0.0
    error: str | None = None
    ended: float | None = None

    @property
    def busy(self) -> bool:
        """Whether the run read, wrote or asked a model anything (a run that only moved its cursor did not)."""
        return any(self.counts.values()) or self.model_seconds > 0 or self.error is not None

    def describe(self) -> str:
        """The run's log line: `workspace=w session=s peer=alice messages=3 conclusions=2 ... ok`."""
        who = f"peer={self.key.observed_id}" if self.key.kind == "representation" else f"unit={self.key.kind}"
        always = _ALWAYS_SHOWN.get(self.key.kind, ())
        shown = [f"{name}={n}" for name, n in self.counts.items() if n or name in always]
        elapsed = (self.ended or self.started) - self.started
        outcome = "ok" if self.error is None else f"failed: {self.error}"
        return (f"work unit ran: workspace={self.key.workspace_id} session={self.key.session_id} {who} "
                f"{' '.join(shown)} model_s={self.model_seconds:.2f} elapsed_s={elapsed:.2f} {outcome}")


class Activity:
    """The registry of running units (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._runs: dict[str, UnitRun] = {}

    def begin(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            self._runs[key] = UnitRun(UnitKey.parse(key), now, WAITING, now)

    def step(self, key: UnitKey | str, name: str) -> None:
        with self._lock:
            run = self._runs.get(str(key))
            if run is not None:
                run.step, run.step_started = name, self._clock()

    def add(self, key: UnitKey | str, model_seconds: float = 0.0, **counts: int) -> None:
        """Add to a run's tally: `model_seconds` and any of COUNTS."""
        with self._lock:
            run = self._runs.get(str(key))
            if run is None:
                return
            run.model_seconds += model_seconds
            for name, n in counts.items():
                run.counts[name] += n

    def fail(self, key: UnitKey | str, error: str) -> None:
        """Mark a run failed (the first error stays)."""
        with self._lock:
            run = self._runs.get(str(key))
            if run is not None and run.error is None:
                run.error = error

    def end(self, key: str, error: str | None = None) -> UnitRun | None:
        """Close a run and return its tally; `error` marks it failed unless it already is."""
        with self._lock:
            run = self._runs.pop(key, None)
        if run is not None:
            run.ended = self._clock()
            run.error = run.error or error
        return run

    def running(self) -> list[dict[str, Any]]:
        """The open runs, oldest first: unit, kind, session, observed peer, step, seconds elapsed."""
        now = self._clock()
        with self._lock:
            runs = sorted(self._runs.items(), key=lambda item: item[1].started)
            return [{"work_unit": key, "kind": run.key.kind, "workspace_id": run.key.workspace_id,
                     "session_id": run.key.session_id, "observed_id": run.key.observed_id, "step": run.step,
                     "elapsed_s": round(now - run.started, 3), "step_elapsed_s": round(now - run.step_started, 3)}
                    for key, run in runs]
