"""Client-side batching of message writes: a buffer per session, flushed in order, each batch sent once.

A session's buffered messages go out when `size` of them wait (in the thread that adds the last one),
when the oldest has waited `interval` seconds (in a background thread, started on first use), or on
`flush()`. A flush seals the buffer into batches of at most 100 messages (the batch route's limit), each
with its own idempotency key, and sends them in order; one flush runs at a time, so a session's messages
reach the server in the order they were added, whichever thread flushes.

A batch the server refuses (a 4xx other than 408/429) is dropped: its futures carry the error and the
next `flush()` raises it. A batch still unanswered after every retry stays first in its session's queue
with the same key and body, and is sent again by the next flush: if the server had stored it after all,
the key makes the resend a replay, not a second copy.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from honcho_local.client.http import HonchoClientError

MAX_BATCH = 100  # messages per request on the batch create route
Key = tuple[str, str]  # (workspace, session)
Send = Callable[[str, str, list[dict[str, Any]], str], list[dict[str, Any]]]


@dataclass
class _Batch:
    key: str
    messages: list[dict[str, Any]]
    futures: list[Future]


@dataclass
class _Queue:
    sealed: deque[_Batch] = field(default_factory=deque)
    loose: list[tuple[dict[str, Any], Future]] = field(default_factory=list)
    since: float | None = None  # when the oldest unsent message was added (or a failed send retried)

    def seal(self) -> None:
        for start in range(0, len(self.loose), MAX_BATCH):
            chunk = self.loose[start:start + MAX_BATCH]
            self.sealed.append(_Batch(uuid.uuid4().hex, [m for m, _ in chunk], [f for _, f in chunk]))
        self.loose = []


class Batcher:
    """Buffers message writes per (workspace, session) and sends them through `send` in batches."""

    def __init__(self, send: Send, size: int = 50, interval: float | None = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 1 <= size <= MAX_BATCH:
            raise ValueError(f"batch size must be between 1 and {MAX_BATCH}")
        self.send, self.size, self.interval, self.clock = send, size, interval, clock
        self._lock = threading.Lock()  # the queues
        self._wake = threading.Condition(self._lock)
        self._sending = threading.Lock()  # one flush at a time: batches leave in order
        self._queues: dict[Key, _Queue] = {}
        self._refused: list[HonchoClientError] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, workspace: str, session: str, message: dict[str, Any]) -> Future:
        """Buffer one message; the future resolves to the stored message once its batch is acknowledged."""
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise HonchoClientError("the client is closed")
            queue = self._queues.setdefault((workspace, session), _Queue())
            queue.loose.append((message, future))
            if queue.since is None:
                queue.since = self.clock()
                self._wake.notify()
            full = len(queue.loose) >= self.size
            if self.interval is not None and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="honcho-client-flush", daemon=True)
                self._thread.start()
        if full:
            self.flush([(workspace, session)])
        return future

    def pending(self) -> int:
        """Messages added and not yet acknowledged by the server."""
        with self._lock:
            return sum(len(q.loose) + sum(len(b.messages) for b in q.sealed) for q in self._queues.values())

    def flush(self, keys: list[Key] | None = None) -> None:
        """Send the buffered messages of `keys` (all sessions when None); raise the first failure, if any."""
        failures: list[HonchoClientError] = []
        with self._sending:
            with self._lock:
                chosen = list(self._queues) if keys is None else [k for k in keys if k in self._queues]
                for key in chosen:
                    self._queues[key].seal()
            for key in chosen:
                try:
                    self._drain(key)
                except HonchoClientError as exc:
                    failures.append(exc)
            with self._lock:
                failures, self._refused = self._refused + failures, []
        if failures:
            raise failures[0]

    def _drain(self, key: Key) -> None:
        """Send a session's sealed batches in order (the caller holds `_sending`)."""
        queue = self._queues[key]
        try:
            while queue.sealed:
                batch = queue.sealed[0]
                try:
                    stored = self.send(key[0], key[1], batch.messages, batch.key)
                except HonchoClientError as exc:
                    if exc.retryable:
                        raise
                    with self._lock:
                        queue.sealed.popleft()
                    for future in batch.futures:
                        future.set_exception(exc)
                    raise
                with self._lock:
                    queue.sealed.popleft()
                for future, message in zip(batch.futures, stored):
                    future.set_result(message)
        finally:
            with self._lock:
                queue.since = None if not (queue.sealed or queue.loose) else self.clock()

    def _due(self) -> tuple[list[Key], float | None]:
        """The sessions whose oldest message has waited `interval`, and the wait until the next is due."""
        now, wait = self.clock(), None
        due: list[Key] = []
        if self.interval is None:  # no timed flushes (the flusher thread never starts then)
            return due, wait
        for key, queue in self._queues.items():
            if queue.since is None:
                continue
            left = queue.since + self.interval - now
            if left <= 0:
                due.append(key)
            else:
                wait = left if wait is None else min(wait, left)
        return due, wait

    def _run(self) -> None:
        """The background flusher: waits for the next due session (or a new message, or close)."""
        while True:
            with self._wake:
                due, wait = self._due()
                while not due and not self._closed:
                    self._wake.wait(wait)
                    due, wait = self._due()
                if self._closed:
                    return
            self._flush_in_background(due)

    def _flush_in_background(self, keys: list[Key]) -> None:
        """Refusals are kept for the next `flush()`; unanswered batches stay queued and are resent later."""
        with self._sending:
            with self._lock:
                for key in keys:
                    self._queues[key].seal()
            for key in keys:
                try:
                    self._drain(key)
                except HonchoClientError as exc:
                    if not exc.retryable:
                        with self._lock:
                            self._refused.append(exc)

    def close(self) -> None:
        """Refuse new messages, stop the background flusher, then flush what is buffered."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
