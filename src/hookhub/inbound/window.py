"""Sliding-window counters held in memory: the rate limit of a single process.

The same strategy as the shared (Redis) limit, ``limits``' sliding-window counter: time is cut
into fixed windows of the rate's length, and a hit is allowed while the current window's count,
plus the previous window's count weighted by how much of it still lies inside the sliding
window, stays within the limit. It does not let a caller double its budget across a window
boundary, as a fixed window would, and it keeps two counts per key, where a true moving window
keeps a timestamp per hit.

Pure: the caller passes the time (seconds on a monotonic clock). Measured under
``bench/ingest.py``, ``limits``' own memory storage cost about 5% of a webhook's time on the
event loop (an asyncio lock, a timer task, per-call key strings); this is a dict lookup and
some arithmetic.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

#: How often keys whose windows have both passed are forgotten.
SWEEP_INTERVAL_S = 60.0


@dataclass
class _Counts:
    window_s: float
    #: Start of the current fixed window (a multiple of ``window_s``).
    start_s: float
    current: int = 0
    previous: int = 0


class SlidingWindows:
    """``hit(key, limit, window_s, now_s)``: count one hit of ``key``, or say how long to wait.

    Memory stays bounded by the keys hit in the last two windows: the others are dropped every
    ``SWEEP_INTERVAL_S``.
    """

    def __init__(self) -> None:
        self._counts: dict[Hashable, _Counts] = {}
        self._next_sweep_s: float | None = None

    def __len__(self) -> int:
        return len(self._counts)

    def hit(self, key: Hashable, limit: int, window_s: float, now_s: float) -> float | None:
        """None when the hit is allowed (and counted); else the seconds until one would be.

        A refused hit is not counted: a client that keeps knocking does not push its own
        wait further out.
        """
        if self._next_sweep_s is None or now_s >= self._next_sweep_s:
            self._sweep(now_s)
        start_s = now_s - now_s % window_s
        counts = self._counts.get(key)
        if counts is None or counts.window_s != window_s:
            counts = self._counts[key] = _Counts(window_s, start_s)
        elif counts.start_s != start_s:
            follows = counts.start_s + window_s == start_s
            counts.previous = counts.current if follows else 0
            counts.current = 0
            counts.start_s = start_s
        weight = 1 - (now_s - start_s) / window_s
        if counts.previous * weight + counts.current + 1 <= limit:
            counts.current += 1
            return None
        return _wait_s(counts, limit, now_s)

    def clear(self) -> None:
        self._counts.clear()

    def _sweep(self, now_s: float) -> None:
        self._next_sweep_s = now_s + SWEEP_INTERVAL_S
        stale = [
            key
            for key, counts in self._counts.items()
            if counts.start_s + 2 * counts.window_s <= now_s
        ]
        for key in stale:
            del self._counts[key]


def _wait_s(counts: _Counts, limit: int, now_s: float) -> float:
    """Until the weighted count leaves room for one more hit (the previous window's weight
    falls linearly to nothing over the current window)."""
    window_s = counts.window_s
    if limit < 1:
        return window_s  # "0/minute": nothing passes, ever; "wait" one window
    if counts.current + 1 <= limit:
        # Room once enough of the previous window has slid out.
        fraction = 1 - (limit - counts.current - 1) / counts.previous
        return max(0.0, counts.start_s + window_s * fraction - now_s)
    # Not before the next window, once enough of this one has slid out of it.
    fraction = max(0.0, 1 - (limit - 1) / counts.current)
    return max(0.0, counts.start_s + window_s * (1 + fraction) - now_s)
