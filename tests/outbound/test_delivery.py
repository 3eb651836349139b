from datetime import UTC, datetime, timedelta

import pytest

from hookhub.outbound.delivery import (
    AttemptResult,
    DeliveryStatus,
    IllegalTransitionError,
    judge,
    should_disable_for_failures,
    transition,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SCHEDULE = (5, 300)


def verdict(result: AttemptResult, attempts: int = 1):  # type: ignore[no-untyped-def]
    return judge(result, attempts_made=attempts, now=NOW, schedule_s=SCHEDULE, rand=lambda: 0.5)


@pytest.mark.parametrize("code", [200, 201, 204, 299])
def test_2xx_is_success(code: int) -> None:
    assert verdict(AttemptResult(code)).status is DeliveryStatus.SUCCESS


@pytest.mark.parametrize("code", [None, 300, 400, 404, 429, 500, 503])
def test_other_answers_retry_on_schedule(code: int | None) -> None:
    result = verdict(AttemptResult(code, error="boom" if code is None else None))
    assert result.status is DeliveryStatus.PENDING
    assert result.next_attempt_at == NOW + timedelta(seconds=5)
    assert not result.disable_webhook


def test_retries_spent_is_failed() -> None:
    assert verdict(AttemptResult(500), attempts=3).status is DeliveryStatus.FAILED


def test_gone_fails_and_disables() -> None:
    result = verdict(AttemptResult(410))
    assert result.status is DeliveryStatus.FAILED
    assert result.disable_webhook


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_is_honoured_on_429_and_503(code: int) -> None:
    result = verdict(AttemptResult(code, retry_after_s=42))
    assert result.next_attempt_at == NOW + timedelta(seconds=42)


def test_retry_after_is_ignored_on_other_codes() -> None:
    result = verdict(AttemptResult(500, retry_after_s=42))
    assert result.next_attempt_at == NOW + timedelta(seconds=5)


def test_transitions() -> None:
    assert transition(DeliveryStatus.PENDING, DeliveryStatus.SUCCESS) is DeliveryStatus.SUCCESS
    assert transition(DeliveryStatus.FAILED, DeliveryStatus.PENDING) is DeliveryStatus.PENDING
    with pytest.raises(IllegalTransitionError, match="a success delivery cannot become failed"):
        transition(DeliveryStatus.SUCCESS, DeliveryStatus.FAILED)


def test_disable_after_a_window_of_failures() -> None:
    window = timedelta(days=5)
    assert not should_disable_for_failures(None, NOW, window)
    assert not should_disable_for_failures(NOW - window + timedelta(seconds=1), NOW, window)
    assert should_disable_for_failures(NOW - window, NOW, window)
