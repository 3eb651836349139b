"""The one time format hookhub writes in JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hookhub.clock import isoformat_z


def test_utc_moments_end_in_z() -> None:
    assert isoformat_z(datetime(2026, 12, 3, 12, 0, 1, 250, tzinfo=UTC)) == (
        "2026-12-03T12:00:01.000250Z"
    )


def test_other_offsets_are_converted_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert isoformat_z(datetime(2026, 12, 3, 13, 0, tzinfo=paris)) == "2026-12-03T12:00:00Z"
