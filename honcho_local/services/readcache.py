"""A read-through cache for representation-store reads, valid until the next commit.

The key of every entry includes nothing about time: the whole cache is dropped as soon as the
store's commit counter moves (any write, by the API or the worker), so a cached answer is always
the answer the database would give now. Under a steady stream of writes it simply misses.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
_MISSING = object()


class ReadCache:
    def __init__(self, store: Any, size: int = 20_000) -> None:
        self.store = store
        self.size = size
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._generation = -1
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def generation(self) -> int:
        return self.store.stats["commits"]

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value of `key`, or `compute()` (stored when no commit happened meanwhile)."""
        if self.size <= 0:
            return compute()
        generation = self.generation()
        with self._lock:
            if generation != self._generation:
                self._data.clear()
                self._generation = generation
            value = self._data.get(key, _MISSING)
            if value is not _MISSING:
                self.hits += 1
                return value  # type: ignore[return-value]
        self.misses += 1
        value = compute()
        with self._lock:
            if self._generation == generation == self.generation():
                self._data[key] = value
                if len(self._data) > self.size:
                    self._data.popitem(last=False)
        return value

    def get_many(self, keys: list[Hashable], compute: Callable[[list[Hashable]], dict[Hashable, Any]]) -> dict:
        """Cached values for `keys`; `compute(missing)` returns a dict for the missing ones."""
        if self.size <= 0:
            return compute(keys)
        generation = self.generation()
        with self._lock:
            if generation != self._generation:
                self._data.clear()
                self._generation = generation
            found = {k: self._data[k] for k in keys if k in self._data}
        missing = [k for k in keys if k not in found]
        self.hits += len(found)
        if missing:
            self.misses += len(missing)
            computed = compute(missing)
            with self._lock:
                if self._generation == generation == self.generation():
                    self._data.update(computed)
                    while len(self._data) > self.size:
                        self._data.popitem(last=False)
            found.update(computed)
        return found
