"""The garbage collector, tuned for a long-running server once it has started.

A started hookhub holds a few hundred thousand long-lived objects (modules, SQLAlchemy and
pydantic metadata, FastAPI routes). CPython's full collections walk all of them, and with the
default thresholds a busy process runs one every few seconds: in ``bench/outbound.py`` they took
0.3 s each, about a tenth of the CPU, and each one stalled every delivery in flight. Freezing
what is alive at start-up takes those objects out of every later collection; a larger
first-generation threshold runs young collections less often (most per-request objects are
freed by reference counting long before a collection would find them).
"""

from __future__ import annotations

import gc

#: Allocations of container objects, net of frees, between young collections (CPython: 700).
YOUNG_THRESHOLD = 10_000
#: Young collections between middle ones, and middle between full ones (CPython's own).
MIDDLE_THRESHOLD = 10
OLD_THRESHOLD = 10


def settle() -> None:
    """Collect once, freeze every object still alive, and raise the young threshold.

    Call once, after start-up, in a process that serves until it exits (``hookhub serve``,
    ``hookhub dispatch``). Objects frozen here are never collected again, so a process that
    builds and drops many apps (a test run) should not call it.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
