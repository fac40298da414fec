"""The embedded worker: a Huey consumer inside `honcho-local serve` (or alone in `honcho-local worker`).

- Huey does the queueing, in memory (`WakeableMemoryStorage`: a task enqueued by the API starts at
  once instead of at the next poll). The durable truth is the unit cursors in DuckDB, not the queue:
  see below, and docs/decisions/002-worker-queue.md for why the queue is not a file.
- Tasks carry only a work-unit key. One worker per unit at a time: a unit already running is marked
  dirty instead, and its runner loops until the unit has caught up.
- A sweep at start and every `worker_poll_interval` seconds enqueues every unit that lags the log,
  oldest unprocessed message first: after a crash (kill -9) the first sweep finds all the queued work
  again, since a unit lags until its cursor has passed its messages.
- Every unit run is logged as one line (`UnitRun.describe`: workspace, session, peer or unit kind,
  messages read, conclusions / summaries / cards written, model seconds, outcome): INFO when it read,
  wrote or asked a model anything, WARNING when it failed, DEBUG when it only moved its cursor (under a
  stream of writes most runs do only that, several a second). What each running unit is doing is kept
  in the shared `Activity` (queue status lists it).
- A failure of any type inside a unit is recorded by its reasoner (`services/model_calls.py`: metrics,
  run record, the unit failed with its error and a doubling backoff). Should even that record fail (the
  store refuses the write), the unit is held out of the queue here for the same backoff: no unit is
  re-run in a tight loop of full model calls.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from huey import Huey
from huey.consumer import Consumer
from huey.storage import MemoryStorage

from honcho_local import metrics
from honcho_local.services.activity import Activity, UnitRun
from honcho_local.services.reasoner import Reasoner, UnitFailed
from honcho_local.store.units import UnitKey

log = logging.getLogger(__name__)
COALESCE_SECONDS = 0.2
# Under a stream of writes (this many notifications within one window, i.e. 160+ messages/s) the
# window stretches to COALESCE_BUSY_SECONDS (docs/decisions/007-tuned-constants.md).
COALESCE_BUSY_NOTIFICATIONS = 64
COALESCE_BUSY_SECONDS = 3.0


def sibling_prefix(key: str) -> str | None:
    """What representation units of one session and version share (None for other units)."""
    unit = UnitKey.parse(key)
    if unit.kind != "representation":
        return None
    return str(UnitKey("representation", unit.version, unit.workspace_id, unit.session_id, ""))


def log_run(run: UnitRun) -> None:
    """The run's one line: WARNING when it failed, INFO when it did anything, DEBUG when it only moved on."""
    level = logging.WARNING if run.error else logging.INFO if run.busy else logging.DEBUG
    if log.isEnabledFor(level):
        log.log(level, "%s", run.describe())


class WakeableMemoryStorage(MemoryStorage):
    """Huey's in-memory queue, whose dequeue waits on an event set by enqueue (Huey's consumer polls a
    non-blocking storage with a growing delay)."""

    blocking = True
    wait_seconds = 0.5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake = threading.Event()

    def enqueue(self, data: bytes, priority: Any = None) -> None:
        super().enqueue(data, priority)
        self._wake.set()

    def dequeue(self) -> bytes | None:
        data = super().dequeue()
        if data is None:
            self._wake.wait(self.wait_seconds)
            self._wake.clear()
            data = super().dequeue()
        return data


class EmbeddedConsumer(Consumer):
    """A consumer that leaves signal handling to the host process (uvicorn)."""

    def _set_signal_handlers(self) -> None:  # noqa: D401 - Huey hook
        return None


class Worker:
    """Runs the work units of every active representation version (one `Reasoner` each)."""

    def __init__(self, reasoners: Reasoner | list[Reasoner], concurrency: int = 1,
                 poll_interval: float = 10.0, activity: Activity | None = None) -> None:
        reasoners = reasoners if isinstance(reasoners, list) else [reasoners]
        self.reasoners = {r.version: r for r in reasoners}
        self.reasoner = reasoners[0]
        self.activity = activity or self.reasoner.activity  # the registry the reasoners report their steps to
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.huey = Huey("honcho-local", results=False, utc=True, storage_class=WakeableMemoryStorage)
        self._task = self.huey.task(name="process_unit")(self._run_unit)
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        self._queued: set[str] = set()
        self._inbox: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._wake = threading.Event()  # `wake`: sweep now, not after `poll_interval`
        self._threads: list[threading.Thread] = []
        self._consumer: EmbeddedConsumer | None = None
        self._dispatching = False  # the dispatcher thread runs (`start`): units notified while they ran go back to it
        self._held: dict[str, tuple[int, float]] = {}  # crashed unit -> (crashes, monotonic time it may run again)
        self.sweeps = 0  # sweeps run (tests wait on it)
        self.periodic: list[Callable[[], Any]] = []  # run after each sweep, in the sweep's thread (automatic dreams)

    # ---- notification (called from the writer thread after a commit: must not block) ----------
    def notify_messages(self, workspace_id: str, session_id: str, rows: list[dict[str, Any]]) -> None:
        senders = dict.fromkeys(r["peer_id"] for r in rows if r["kind"] == "message")
        if not senders:
            return
        for version, reasoner in self.reasoners.items():
            if reasoner.spec.workspace not in (None, workspace_id):
                continue
            for sender in senders:
                self._inbox.put(str(UnitKey("representation", version, workspace_id, session_id, sender)))
            self._inbox.put(str(UnitKey("summary", version, workspace_id, session_id)))

    def lagging(self, waiting: bool = False) -> list[str]:
        return [k for r in self.reasoners.values() for k in r.lagging(waiting)]

    def running(self) -> set[str]:
        with self._lock:
            return set(self._running)

    def _dispatch(self) -> None:
        """Hand notified units to Huey, coalescing a burst of writes (COALESCE_SECONDS) into one task
        per unit: fewer queue writes on the hot path, larger reasoning windows. The thread sleeps
        through the window and then takes the inbox in one go, not one timed get per notification
        (docs/decisions/007-tuned-constants.md)."""
        while True:
            key = self._inbox.get()
            if key is None:
                return
            keys = {key: None}
            opened = time.monotonic()
            notified, stopping = self._collect(keys, opened + COALESCE_SECONDS)
            if not stopping and 1 + notified >= COALESCE_BUSY_NOTIFICATIONS:
                _, stopping = self._collect(keys, opened + COALESCE_BUSY_SECONDS)
            self.enqueue(keys)
            if stopping:
                return

    def _collect(self, keys: dict[str, None], until: float) -> tuple[int, bool]:
        """Wait until `until` (cut short by `stop`), then move the whole inbox into `keys`; returns
        the number of notifications taken and whether the stop sentinel was among them."""
        self._stop.wait(max(0.0, until - time.monotonic()))
        taken = 0
        while True:
            try:
                more = self._inbox.get_nowait()
            except queue.Empty:
                return taken, False
            if more is None:
                return taken, True
            keys[more] = None
            taken += 1

    def enqueue(self, keys: Iterable[str]) -> None:
        """Queue a task per unit (once). Every key is marked queued before any task is handed to Huey,
        so the first one to run sees its session's sibling units and can take them along."""
        fresh = []
        now = time.monotonic()
        with self._lock:
            for key in keys:
                if key in self._held and self._held[key][1] > now:
                    continue
                if key in self._running:
                    self._dirty.add(key)
                elif key not in self._queued:
                    self._queued.add(key)
                    metrics.TASKS_QUEUED.inc()
                    fresh.append(key)
        for key in fresh:
            self._task(key)

    # ---- the task ------------------------------------------------------------------------------
    def run(self, key: str) -> None:
        """Work `key` now, in this thread, until caught up: in its failure backoff or not when the worker
        was not started (`reprocess` drives a worker of its own this way). A failure is recorded with the
        unit, as in a served worker."""
        self._run_unit(key)

    def _run_unit(self, key: str, also: Iterable[str] = ()) -> None:
        """Work `key` until caught up, with its session's sibling units that are queued (or in `also`)."""
        with self._lock:
            if key in self._queued:
                self._queued.discard(key)
                metrics.TASKS_QUEUED.dec()
            if key in self._running:
                self._dirty.add(key)
                return
            self._running.add(key)
            claimed = [key, *self._claim_siblings(key, also)]
        again: list[str] = []
        try:
            again = self._work(key, claimed)
        except UnitFailed:  # recorded and logged with the run; the sweep retries the unit after its backoff
            metrics.UNITS_FAILED.inc()
        except Exception:  # not even the failure could be recorded: hold the unit back here (module docstring)
            metrics.UNITS_FAILED.inc()
            log.exception("work unit %s crashed", key)
            self._hold(claimed)
        else:
            with self._lock:
                for k in claimed:
                    self._held.pop(k, None)
        finally:
            with self._lock:
                self._running.difference_update(claimed)
                self._dirty.difference_update(claimed)
            for k in again:  # after leaving `_running`, so the dispatcher queues them
                self._inbox.put(k)

    def _work(self, key: str, claimed: list[str]) -> list[str]:
        """Run `claimed` (led by `key`) until caught up; returns those to queue again (notified meanwhile)."""
        keys = claimed
        while keys:
            reasoner = self.reasoners.get(UnitKey.parse(key).version)
            if reasoner is None:  # a task of a version that is no longer active
                break
            metrics.UNIT_RUNS.inc()
            self._run_round(reasoner, keys)
            with self._lock:
                keys = [k for k in keys if k in self._dirty and not self._stop.is_set()]
                self._dirty.difference_update(keys)
            if keys and self._dispatching:
                # Messages arrived while it ran: back through the dispatcher, so a stream of writes
                # is taken in coalesced windows (docs/decisions/007-tuned-constants.md).
                return keys
        return []

    def _hold(self, keys: list[str]) -> None:
        """Keep crashed units out of the queue for the retry backoff, doubling per crash (at most an hour)."""
        backoff = self.reasoner.settings.reasoning_retry_backoff
        with self._lock:
            for key in keys:
                crashes = self._held.get(key, (0, 0.0))[0] + 1
                self._held[key] = (crashes, time.monotonic() + min(3600.0, backoff * 2 ** min(crashes - 1, 32)))

    def _run_round(self, reasoner: Reasoner, keys: list[str]) -> None:
        """One run of `keys` (together when several), each opened in `activity` and logged when it ends."""
        for key in keys:
            self.activity.begin(key)
        crash = None
        # a started worker (serve) leaves a failed unit alone until its backoff has passed, whatever woke
        # it; one driven directly (`honcho-local worker`, `reprocess`) runs what it is given
        retry_failed = not self._dispatching
        try:
            if len(keys) == 1:
                reasoner.process(keys[0], retry_failed)
            else:
                reasoner.process_together(keys, retry_failed)
        except UnitFailed:  # the reasoner marked the unit that failed in `activity`; the others ran
            raise
        except Exception as exc:
            crash = f"crashed: {type(exc).__name__}: {exc}"
            raise
        finally:
            for key in keys:
                run = self.activity.end(key, crash)
                if run is not None:
                    log_run(run)

    def _claim_siblings(self, key: str, also: Iterable[str] = ()) -> list[str]:
        """The representation units of the same session and version (other observed peers) that are
        queued or in `also` and not running, claimed to run in lockstep with `key`
        (`Reasoner.process_together`). Their Huey tasks stay queued and find them caught up. Call with
        `_lock` held."""
        prefix = sibling_prefix(key)
        if prefix is None:
            return []
        siblings = sorted(k for k in {*self._queued, *also}
                          if k != key and k not in self._running and sibling_prefix(k) == prefix)
        for sibling in siblings:
            if sibling in self._queued:
                self._queued.discard(sibling)
                metrics.TASKS_QUEUED.dec()
            self._running.add(sibling)
        return siblings

    # ---- sweep and lifecycle ----------------------------------------------------------------------
    def sweep(self) -> int:
        try:
            keys = self.lagging()
        except Exception:  # the store may be closing
            log.exception("sweep failed")
            return 0
        self.enqueue(keys)
        self.sweeps += 1
        return len(keys)

    def _sweep_loop(self) -> None:
        while not self._stop.is_set():
            self.sweep()
            for task in self.periodic:
                try:
                    task()
                except Exception:  # the store may be closing; the next sweep tries again
                    log.exception("periodic task %s failed", getattr(task, "__qualname__", task))
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def start(self) -> None:
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            # Huey logs two INFO lines per task, httpx one per call to an OpenAI-compatible model: the
            # unit run's own line (`log_run`) says what they would, once
            for noisy in ("huey", "httpx"):
                logging.getLogger(noisy).setLevel(logging.WARNING)
        self._consumer = EmbeddedConsumer(self.huey, workers=self.concurrency, worker_type="thread", periodic=False,
                                          initial_delay=0.05, max_delay=0.5, check_worker_health=False)
        self._consumer.start()
        self._dispatching = True
        for target, name in ((self._dispatch, "worker-dispatch"), (self._sweep_loop, "worker-sweep")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """Sweep (and run the periodic tasks: the dreams asked for) now rather than at the next interval."""
        self._wake.set()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self._wake.set()
        self._inbox.put(None)
        if self._consumer is not None:
            self._consumer.stop_flag.set()
            for _, proc in self._consumer.worker_threads:
                proc.join(timeout)
        for thread in self._threads:
            thread.join(timeout)
        for reasoner in self.reasoners.values():
            reasoner.settle()  # skip advances still in memory go to the store before it closes

    def drain(self, timeout: float | None = None) -> bool:
        """Process every lagging unit in this thread (for `honcho-local worker`); True when caught up."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            keys = self.lagging()
            if not keys:
                return not self.lagging(waiting=True)
            done: set[str] = set()
            for key in keys:
                if key not in done:
                    prefix = sibling_prefix(key)
                    siblings = [k for k in keys if k not in done and k != key and prefix and sibling_prefix(k) == prefix]
                    self._run_unit(key, also=siblings)
                    done.update([key, *siblings])
            if set(keys) == set(self.lagging()):
                return False  # nothing moved
        return False
