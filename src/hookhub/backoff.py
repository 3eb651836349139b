"""Reconnect backoff: capped exponential with full jitter (pure; the caller sleeps)."""

from __future__ import annotations

import random
from collections.abc import Callable

DEFAULT_BASE_S = 0.1
DEFAULT_CAP_S = 5.0


def backoff_delay_s(
    attempt: int,
    *,
    base_s: float = DEFAULT_BASE_S,
    cap_s: float = DEFAULT_CAP_S,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before reconnect ``attempt`` (0 for the first retry).

    Full jitter (a uniform draw below the capped exponential) keeps many clients that lost the
    same server from reconnecting in lockstep.
    """
    ceiling = min(cap_s, base_s * (2 ** min(attempt, 32)))
    return ceiling * rand()
