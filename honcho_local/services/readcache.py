"""A read-through cache for representation-store reads, always the answer the database would give now.

Every entry names what it was read from, as the tags writes record (`WriteContext.touch`): e.g. a
peer's representation depends on `("ws", w)` and `("peer", w, p)`. When the store's commit counter
moves, the cache asks the store what the new commits touched (`Store.changes_since`) and drops the
entries that depend on it; a commit that does not say what it touched (most writes outside the hot
paths), or an entry that names no tags, drops as before on any commit. So a message posted to one
session leaves every other session's context, and every representation, cached; the worker's
bookkeeping commits (work-unit cursors, run records) drop nothing.

Cache first: a service describes a read as a `Read` (its key, its tags and how to compute it from the
store); the API answers it on the event loop when `peek` holds it, else computes it in a handler
thread (`api/deps.cache_first`). `peek` never computes: nothing on the loop can reach DuckDB, a model
or a lock held across a query.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from honcho_local.store.db import Tag

T = TypeVar("T")
_MISSING = object()
MISS: Any = object()  # what `peek` answers for a key it does not hold


@dataclass(frozen=True)
class Read(Generic[T]):
    """A read the cache can answer: its key, the tags it is read from (None: anything) and how to
    compute it from the store (which may block: a query, a model, a wait)."""

    key: Hashable
    compute: Callable[[], T]
    deps: tuple[Tag, ...] | None = None


class ReadCache:
    def __init__(self, store: Any, size: int = 20_000) -> None:
        self.store = store
        self.size = size
        self._data: OrderedDict[Hashable, tuple[Any, frozenset[Tag] | None]] = OrderedDict()
        self._by_tag: dict[Tag, set[Hashable]] = {}
        self._untagged: set[Hashable] = set()
        self._generation = -1
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def generation(self) -> int:
        return self.store.feed.commits

    def get(self, key: Hashable, compute: Callable[[], T], deps: Iterable[Tag] | None = None) -> T:
        """The cached value of `key`, or `compute()`. `deps`: the tags the value was read from
        (None: anything, dropped by every commit); it is stored only if no commit since the read
        began touched them."""
        if self.size <= 0:
            return compute()
        generation = self.generation()
        with self._lock:
            if generation != self._generation:
                generation = self._sync()
            entry = self._data.get(key, _MISSING)
            if entry is not _MISSING:
                self.hits += 1
                return entry[0]  # type: ignore[index]
        self.misses += 1
        value = compute()
        tags = None if deps is None else frozenset(deps)
        with self._lock:
            self._sync()
            _, changed = self.store.changes_since(generation)
            if changed is not None and (not changed if tags is None else not tags & changed):
                self._put(key, value, tags)
        return value

    def peek(self, key: Hashable) -> Any:
        """The value held for `key`, current to the last commit, or `MISS`. Never computes."""
        if self.size <= 0:
            return MISS
        generation = self.generation()
        with self._lock:
            if generation != self._generation:
                self._sync()
            entry = self._data.get(key, _MISSING)
            if entry is _MISSING:
                return MISS  # not counted: the `answer` that follows counts it
            self.hits += 1
            return entry[0]  # type: ignore[index]

    def answer(self, read: Read[T]) -> T:
        """`read`'s value: held, or computed (and held when no commit meanwhile touched its tags)."""
        return self.get(read.key, read.compute, read.deps)

    # ---- under self._lock -------------------------------------------------------------------------
    def _sync(self) -> int:
        """Drop what the commits since the last sync touched; returns the commit now applied."""
        newest, changed = self.store.changes_since(self._generation)
        if self._generation < 0 or changed is None:
            self._data.clear()
            self._by_tag.clear()
            self._untagged.clear()
        elif newest != self._generation:
            for key in list(self._untagged):
                self._drop(key)
            for tag in changed:
                for key in list(self._by_tag.get(tag, ())):
                    self._drop(key)
        self._generation = newest
        return newest

    def _put(self, key: Hashable, value: Any, tags: frozenset[Tag] | None) -> None:
        if key in self._data:
            self._drop(key)
        self._data[key] = (value, tags)
        if tags is None:
            self._untagged.add(key)
        else:
            for tag in tags:
                self._by_tag.setdefault(tag, set()).add(key)
        while len(self._data) > self.size:
            self._drop(next(iter(self._data)))

    def _drop(self, key: Hashable) -> None:
        entry = self._data.pop(key, None)
        if entry is None:
            return
        tags = entry[1]
        if tags is None:
            self._untagged.discard(key)
            return
        for tag in tags:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]
