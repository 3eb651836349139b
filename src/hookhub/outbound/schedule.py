"""Retry schedule and ``Retry-After`` parsing (pure: ``now`` and randomness are arguments)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

#: Waits after the first attempt fails, then after each retry (Svix's schedule).
DEFAULT_RETRY_SCHEDULE_S: tuple[int, ...] = (
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    10 * 3600,
)
#: Each wait is stretched or shrunk by up to this fraction, so receivers that failed together
#: are not retried together.
JITTER_FRACTION = 0.2
#: A receiver's ``Retry-After`` is honoured up to this long; a longer one is cut to it.
MAX_RETRY_AFTER_S = 24 * 3600


def next_attempt_at(
    attempts_made: int,
    now: datetime,
    *,
    schedule_s: Sequence[int] = DEFAULT_RETRY_SCHEDULE_S,
    retry_after_s: float | None = None,
    rand: Callable[[], float] = random.random,
) -> datetime | None:
    """When to try again after ``attempts_made`` failed attempts; ``None`` when retries are spent.

    A ``Retry-After`` from the receiver (429, 503) replaces the schedule's wait for that step,
    without jitter; the step still counts toward the schedule's end.
    """
    if attempts_made < 1 or attempts_made > len(schedule_s):
        return None
    if retry_after_s is not None:
        return now + timedelta(seconds=min(max(retry_after_s, 0.0), MAX_RETRY_AFTER_S))
    base = schedule_s[attempts_made - 1]
    factor = 1 + JITTER_FRACTION * (2 * rand() - 1)
    return now + timedelta(seconds=base * factor)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delay-seconds or HTTP date); ``None`` if unusable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # "²".isdigit() is true, and float("²") fails
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max((moment - now).total_seconds(), 0.0)
