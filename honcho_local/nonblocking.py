"""Answering on the event loop when the answer is already in memory.

A warm read (context, representation, card, conclusion query from the read cache and in-memory
matrices) is a fraction of a millisecond of Python; handing it to a handler thread costs as much again
(the executor round trip, and GIL handoffs between the loop and the threads). So such a route first runs
its service call on the event loop inside `nonblocking()`. (Message search stays in threads: its BM25
is ~0.4 ms of GIL-free work on real questions, which threads overlap; measured in docs/notes/measurement-log-2026-11.md.)

Every step that would block (a DuckDB query, a write, a wait for the lexical indexer, loading a model,
computing an embedding, building an index) calls `check()` first, which inside `nonblocking()` raises
`WouldBlock`; the route then runs the whole call again in a handler thread. The lower layers only mark
where they would block, whoever calls them; the api layer alone decides where a call runs. The steps
before such a point only read memory and fill caches, so running again is safe.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("honcho_local_nonblocking", default=False)


class WouldBlock(BaseException):
    """Raised by `check()` inside `nonblocking()`: this call needs a thread. A BaseException, like
    GeneratorExit: a signal to the route, which a handler's `except Exception` must not swallow (that
    would turn "needs a thread" into a wrong answer served from the loop)."""


@contextlib.contextmanager
def nonblocking() -> Iterator[None]:
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def check() -> None:
    """Call before anything that may block: raises `WouldBlock` inside `nonblocking()`."""
    if _ACTIVE.get():
        raise WouldBlock
