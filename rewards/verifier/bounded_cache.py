"""A thread-safe least-recently-used cache bounded by entry count and by key text size."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """Maps keys to values, evicting the least recently used entries past either bound.

    ``size_of(key)`` is charged against ``max_chars``, so a few huge answers cannot hold
    gigabytes of memory the way a count-only bound would let them.
    """

    def __init__(self, max_entries: int, max_chars: int, size_of=len) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._size_of = size_of
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value for ``key``, marked as recently used, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value: V) -> None:
        """Store ``value``; a key bigger than the whole budget is not stored."""
        size = self._size_of(key)
        if size > self.max_chars:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._chars -= previous[1]
            self._entries[key] = (value, size)
            self._chars += size
            while len(self._entries) > self.max_entries or self._chars > self.max_chars:
                _, (_, evicted_size) = self._entries.popitem(last=False)
                self._chars -= evicted_size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._chars = 0
