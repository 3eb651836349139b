from datetime import UTC, datetime, timedelta

import pytest

from hookhub.outbound.schedule import (
    DEFAULT_RETRY_SCHEDULE_S,
    next_attempt_at,
    parse_retry_after,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_default_schedule_is_svix_like() -> None:
    waits = [
        (next_attempt_at(n, NOW, rand=lambda: 0.5) - NOW).total_seconds()
        for n in range(1, len(DEFAULT_RETRY_SCHEDULE_S) + 1)
    ]
    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert next_attempt_at(len(DEFAULT_RETRY_SCHEDULE_S) + 1, NOW) is None
    assert next_attempt_at(0, NOW) is None


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.8), (1.0, 1.2)])
def test_jitter_stays_within_twenty_percent(draw: float, factor: float) -> None:
    after = next_attempt_at(2, NOW, rand=lambda: draw)
    assert after == NOW + timedelta(seconds=300 * factor)


def test_custom_schedule_and_retry_after() -> None:
    assert next_attempt_at(1, NOW, schedule_s=[1, 2], rand=lambda: 0.5) == NOW + timedelta(
        seconds=1
    )
    assert next_attempt_at(3, NOW, schedule_s=[1, 2]) is None
    assert next_attempt_at(1, NOW, retry_after_s=120) == NOW + timedelta(seconds=120)
    assert next_attempt_at(1, NOW, retry_after_s=10**9) == NOW + timedelta(hours=24)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Sun, 22 Nov 2026 12:01:30 GMT", 90.0),
        ("Sun, 22 Nov 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        ("²", None),  # a digit to str.isdigit, not to float()
        (None, None),
    ],
)
def test_retry_after_forms(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds
