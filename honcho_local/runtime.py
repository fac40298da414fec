"""How the process is tuned to serve on a small machine, in one place. Nothing here runs at import:
`serve` calls `tune_for_serving()` (and the parts that build services call `limit_native_threads()`);
`lower_this_thread()` and `one_omp_thread()` are called by the threads they apply to. Why each value
was chosen, with the measurements: docs/decisions/003-runtime-tuning.md."""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
from typing import Any

log = logging.getLogger(__name__)
BACKGROUND_NICE = 10  # how much lower background threads run (`lower_this_thread`)
SWITCH_INTERVAL = 0.0005  # seconds a thread holds the GIL before another may take it (default 0.005)
GC_THRESHOLDS = (5_000, 20, 20)  # young collections every 5,000 allocations (default 700, 10, 10)
_omp = threading.local()


def limit_native_threads() -> None:
    """One BLAS thread for numpy's matrix products in this process: the vector searches run side by side
    in request threads, and OpenBLAS splitting one product over every core made its helper wait for a
    core the other requests hold."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def one_omp_thread(faiss: Any) -> None:
    """One OpenMP thread for the faiss calls of the calling thread (OpenMP's thread count is per thread,
    so each request thread sets it once, on its first search)."""
    if not getattr(_omp, "set", False):
        faiss.omp_set_num_threads(1)
        _omp.set = True


def tune_for_serving() -> None:
    """The interpreter settings of `honcho-local serve`: a short GIL switch interval (the DuckDB writer
    thread gets the GIL back quickly after a commit) and fewer, larger young collections."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_long_lived() -> None:
    """Move everything built so far (modules, the app, the models' Python state) out of the collector's
    reach, so a full collection walks only what requests allocate. Call once the services are built."""
    gc.collect()
    gc.freeze()


def lower_this_thread(step: int = BACKGROUND_NICE) -> bool:
    """Raise the calling thread's nice value by `step` (capped at 19); threads it starts afterwards
    inherit it. Background work that runs without the GIL (tantivy's indexing and merge threads) then
    waits while requests want the cores, and still runs whenever a core is free. Linux only: elsewhere
    `setpriority(PRIO_PROCESS, tid)` would name a process, not this thread. True when it was applied."""
    if not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except OSError as exc:  # pragma: no cover - a sandbox without the call
        log.debug("thread priority not lowered: %s", exc)
        return False
    return True
