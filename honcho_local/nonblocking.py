"""Answering on the event loop when the answer is already in memory.

A warm search is a few hundred microseconds of work from in-memory indexes; handing it to a handler
thread costs as much again (the executor round trip, and GIL handoffs between the loop and three
threads: measured, workspace search under 8 clients). So a read route first runs its service call on
the event loop inside `nonblocking()`. Every step that would block (a DuckDB query, a wait for the
lexical indexer, loading a model, computing an embedding, building an index) calls `check()` first,
which inside `nonblocking()` raises `WouldBlock`; the route then runs the whole call again in a handler
thread. The steps before such a point only read memory and fill caches, so running again is safe.
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
