"""A work unit's model calls and the record of each: retries with backoff, one `reasoning_runs` row
per call (ok, empty or failed), and the unit's failure (status, error, attempts, next retry).

A failure of any type is recorded, not only the project's own errors: a `HonchoLocalError` (a model
that errors or answers garbage) is retried `reasoning_retries` times; any other exception (a bug, or an
input that breaks the processing of the answer, such as a date at the calendar's edge) fails the unit
at once, since retrying would repeat the same model call for the same error. Either way the unit is
marked failed and waits `reasoning_retry_backoff` seconds, doubling per further failure (at most an
hour), before the sweep tries it again: never a loop of full model calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from honcho_local import metrics
from honcho_local.config import Settings
from honcho_local.errors import HonchoLocalError
from honcho_local.ids import new_id
from honcho_local.llm.base import Completion
from honcho_local.services import activity as steps
from honcho_local.services.activity import Activity
from honcho_local.store import Store, WriteContext, units, utcnow
from honcho_local.store.units import UnitKey

log = logging.getLogger(__name__)


class UnitFailed(Exception):
    """A unit gave up after its retries; the failure is recorded and a later sweep retries it."""


def describe(exc: BaseException) -> str:
    """An error as recorded: a project error's detail, anything else with its type."""
    if isinstance(exc, HonchoLocalError):
        return exc.detail
    return f"{type(exc).__name__}: {exc}"


def run_row(version: str, key: UnitKey, task: str, status: str, completion: Completion | None = None,
            **extra: Any) -> dict[str, Any]:
    """A `reasoning_runs` row (the call's tokens go to the metrics as it is built)."""
    if completion is not None:
        metrics.TOKENS.labels(task, "prompt").inc(completion.prompt_tokens)
        metrics.TOKENS.labels(task, "completion").inc(completion.completion_tokens)
        if completion.fallback_used:
            metrics.FALLBACK_USES.labels(task).inc()
    row = {"id": new_id(), "unit_key": str(key), "version": version, "task": task, "status": status,
           "events": 0, "prompt_tokens": completion.prompt_tokens if completion else 0,
           "completion_tokens": completion.completion_tokens if completion else 0,
           "seconds": completion.seconds if completion else 0.0, "outputs": 0,
           "provider": completion.provider if completion else None,
           "model": completion.model if completion else None,
           "fallback_used": bool(completion and completion.fallback_used), "created_at": utcnow()}
    row.update(extra)
    return row


class ModelCalls:
    """Runs and records the model calls of one representation version's units."""

    def __init__(self, settings: Settings, store: Store, activity: Activity, version: str) -> None:
        self.sleep: Callable[[float], None] = time.sleep  # between a call's retries (tests replace it)
        self.settings = settings
        self.store = store
        self.activity = activity
        self.version = version

    def call(self, key: UnitKey, task: str, fn: Callable[[], Any], fatal: bool = True) -> Any:
        """Run one model call (with what processes its answer) with retries and backoff. When it fails:
        record the failure (with the model time it used) and raise `UnitFailed`; a non-`fatal` call
        records it and returns None."""
        spent, last = 0.0, None
        self.activity.step(key, steps.model_step(task))
        for attempt in range(self.settings.reasoning_retries):
            started = time.perf_counter()
            try:
                result = fn()
            except Exception as exc:  # every failure is recorded (module docstring)
                spent += time.perf_counter() - started
                self.activity.add(key, model_seconds=time.perf_counter() - started)
                metrics.MODEL_ERRORS.labels(task).inc()
                last = exc
                retry = isinstance(exc, HonchoLocalError) and attempt + 1 < self.settings.reasoning_retries
                log.warning("%s for %s failed (attempt %d): %s", task, key, attempt + 1, describe(exc),
                            exc_info=not isinstance(exc, HonchoLocalError))
                if not retry:
                    break
                self.sleep(min(30.0, 0.5 * 2 ** attempt))
                continue
            metrics.REASONING_SECONDS.labels(task).observe(time.perf_counter() - started)
            self.activity.add(key, model_seconds=time.perf_counter() - started)
            return result
        assert last is not None
        raw_output = getattr(last, "raw_output", None)
        if not fatal:
            self.store.write(lambda ctx: units.record_run(ctx, run_row(
                self.version, key, task, "failed", error=describe(last), seconds=spent, raw_output=raw_output)),
                scoped=True)
            return None
        raise self.fail(key, task, describe(last), spent, raw_output)

    def fail(self, key: UnitKey, task: str, error: str, spent: float = 0.0,
             raw_output: str | None = None) -> UnitFailed:
        """Mark the unit failed (it waits its backoff) and record the failed run; returns what to raise."""
        def op(ctx: WriteContext) -> None:
            units.mark_failed(ctx, key, f"{task}: {error}", timedelta(seconds=self.settings.reasoning_retry_backoff))
            units.record_run(ctx, run_row(self.version, key, task, "failed", error=error, seconds=spent,
                                          raw_output=raw_output))

        self.store.write(op, scoped=True)
        self.activity.fail(key, f"{task}: {error}")
        return UnitFailed(f"{task} for {key}: {error}")

    def crashed(self, key: UnitKey, exc: Exception) -> UnitFailed:
        """A unit's run raised outside a model call: recorded as a failure of the unit's kind of work."""
        log.warning("work unit %s failed", key, exc_info=exc)
        return self.fail(key, key.kind, describe(exc))
