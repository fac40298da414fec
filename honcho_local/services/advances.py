"""Cursor advances that need no model (a unit moving past messages nobody reasons about), held in
memory for up to ADVANCE_FLUSH_SECONDS and then written together: every advance made meanwhile, by any
unit, goes to the store as one operation and one upsert. Until it has landed a unit reads its cursor as
the larger of the stored one and the pending one (`pending`). Under a stream of writes these were one
blocking upsert per unit run, each turning its commit group into a transaction: 12-19% of the writer
thread's time (py-spy, bench_write.py). An advance lost to a crash is found again by the sweep:
skipping is idempotent.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future

from honcho_local.store import Store, WriteContext, units
from honcho_local.store.units import UnitKey

log = logging.getLogger(__name__)
# How long a unit's skip advance waits in memory for others to share its write
ADVANCE_FLUSH_SECONDS = 1.0


class PendingAdvances:
    """The skip advances of one reasoner not yet committed (see the module docstring). Thread-safe."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cursors: dict[str, int] = {}  # unit key -> cursor of an advance not yet committed
        self.unflushed: dict[str, UnitKey] = {}  # pending advances not yet sent to the store
        self._futures: set[Future[None]] = set()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def add(self, key: UnitKey, cursor: int) -> None:
        """Advance `key` to `cursor` (written with the others when the flush timer fires)."""
        text = str(key)
        with self._lock:
            self.cursors[text] = max(cursor, self.cursors.get(text, 0))
            self.unflushed[text] = key
            if self._timer is None:
                self._timer = threading.Timer(ADVANCE_FLUSH_SECONDS, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def pending(self, key: UnitKey) -> int:
        """The cursor of `key`'s advance on its way to the store (0 when none)."""
        return self.cursors.get(str(key), 0)

    def flush(self) -> None:
        """Send the advances waiting in memory to the store (one operation; returns without waiting)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            items = [(key, self.cursors[text]) for text, key in self.unflushed.items()]
            self.unflushed.clear()
        if not items:
            return

        def op(ctx: WriteContext) -> None:
            for key, cursor in items:
                units.advance_later(ctx, key, cursor)

        try:
            future = self.store.submit(op, scoped=True)
        except RuntimeError:  # the store closed first: the sweep finds these units again
            log.debug("store closed before %d cursor advances were written", len(items))
            with self._lock:
                for key, cursor in items:
                    if self.cursors.get(str(key)) == cursor:
                        del self.cursors[str(key)]
            return
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(lambda f: self._landed(f, items))

    def _landed(self, future: Future[None], items: list[tuple[UnitKey, int]]) -> None:
        """The advances committed (or failed: then the stored cursors are the truth again)."""
        with self._lock:
            self._futures.discard(future)
            for key, cursor in items:
                text = str(key)
                if self.cursors.get(text) == cursor and text not in self.unflushed:
                    del self.cursors[text]

    def settle(self) -> None:
        """Write the advances waiting in memory and wait until they have landed, so the stored cursors
        tell all (before the sweep reads which units lag, and at shutdown)."""
        self.flush()
        with self._lock:
            pending = list(self._futures)
        for future in pending:
            try:
                future.result()
            except Exception:  # noqa: BLE001 - a failed advance leaves the stored cursor, the truth
                pass
