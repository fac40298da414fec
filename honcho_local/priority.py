"""Background threads yield the cores to the request path.

On 2 cores the write path (event loop plus the DuckDB writer thread) shares the CPU with background
work: under a stream of writes the writer's slow group commits came in clusters at the lexical
indexer's 2 s commit interval, when tantivy's threads took a core. `lower_this_thread()` raises the
calling thread's nice value (Linux: nice is per thread); threads it starts afterwards inherit it. A
low-priority thread still runs whenever a core is free, so background work is not starved on an idle
machine, only made to wait while requests want the cores. Only threads that run without the GIL are
lowered: a lowered GIL holder, preempted, makes the event loop and the writer wait for it (measured:
lowering the worker's and indexer's Python threads gave more slow groups, not fewer).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)
BACKGROUND_NICE = 10


def lower_this_thread(step: int = BACKGROUND_NICE) -> bool:
    """Raise the calling thread's nice value by `step` (capped at 19). Linux only: elsewhere
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
