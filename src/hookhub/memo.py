"""A bounded memo of recent values, kept by count and by bytes: pure, no I/O.

The hot paths keep a few recent results to avoid redoing them (a bus message decoded once
for all its subscribers, an event's body serialised once for all its webhooks). Such values
can be as large as a request body (1 MiB by default), so a count alone would not bound them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """Up to ``max_items`` values and ``max_bytes`` of their size, the least recent out first.

    ``size`` gives the bytes an entry counts for; an entry larger than ``max_bytes`` alone
    is not kept. Values are never None: :meth:`get` answers None for a key not kept.
    """

    def __init__(self, *, max_items: int, max_bytes: int, size: Callable[[K, V], int]) -> None:
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        size = self._size(key, value)
        if size > self._max_bytes or key in self._entries:
            return
        self._entries[key] = value
        self._bytes += size
        while len(self._entries) > self._max_items or self._bytes > self._max_bytes:
            oldest_key, oldest = self._entries.popitem(last=False)
            self._bytes -= self._size(oldest_key, oldest)
