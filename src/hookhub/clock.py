"""Time, injected: services take a :data:`Clock` so tests control it without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The system clock, timezone-aware UTC."""
    return datetime.now(UTC)


def isoformat_z(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix, the one time format hookhub writes in JSON."""
    if moment.tzinfo is not UTC:  # the usual case is UTC already: no conversion to make
        moment = moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")
