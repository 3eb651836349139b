"""Reconnect backoff: capped exponential with full jitter (pure; the caller sleeps)."""

from __future__ import annotations

import random
from collections.abc import Callable

DEFAULT_BASE_S = 0.1
DEFAULT_CAP_S = 5.0
#: Past this many doublings the ceiling is the cap anyway; bounding the exponent keeps a very
#: long outage from building a huge integer on every attempt.
_MAX_DOUBLINGS = 32


def backoff_delay_s(
    attempt: int,
    *,
    base_s: float = DEFAULT_BASE_S,
    cap_s: float = DEFAULT_CAP_S,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before reconnect ``attempt`` (0 for the first retry).

    The result lies in ``[0, min(cap_s, base_s * 2**attempt)]``; ``rand`` must return a float
    in ``[0, 1]`` (``random.random`` by default; tests inject their own). Raises ``ValueError``
    for a negative attempt, base or cap.

    Full jitter (a uniform draw below the capped exponential) keeps many clients that lost the
    same server from reconnecting in lockstep.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if base_s < 0 or cap_s < 0:
        raise ValueError(f"base_s and cap_s must be >= 0, got {base_s} and {cap_s}")
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt, _MAX_DOUBLINGS))
    return ceiling * rand()
