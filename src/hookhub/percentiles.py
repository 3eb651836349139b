"""Percentiles of latencies and durations, as every stats endpoint reports them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], percent: int) -> float | None:
    """The ``percent``-th percentile, interpolated between the nearest values (inclusive).

    ``None`` for no values; the value itself for one.
    """
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]
