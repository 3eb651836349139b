"""Stats figures from known values (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hookhub.automations.models import ActionSpec, Step
from hookhub.automations.repository import ExecutionRecord
from hookhub.automations.states import ExecutionStatus, StepStatus
from hookhub.automations.stats import summarize
from hookhub.percentiles import percentile

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "percent", "expected"),
    [
        ([], 95, None),
        ([7.0], 95, 7.0),
        ([10.0, 20.0], 50, 15.0),
        ([float(n) for n in range(1, 101)], 95, 95.05),
        ([100.0, 200.0, 300.0, 400.0, 500.0], 95, 480.0),
    ],
)
def test_percentile(values: list[float], percent: int, expected: float | None) -> None:
    assert percentile(values, percent) == (pytest.approx(expected) if expected else expected)


def test_summarize() -> None:
    failed = ExecutionRecord(
        id="e1",
        automation_id="a",
        status=ExecutionStatus.ERROR,
        started_at=T0,
        finished_at=T0,
        duration_ms=5,
        error="step 'b' failed: boom",
        failed_step="b",
        request_id=None,
        depth=0,
        trigger={},
        steps=[
            Step(name="a", action="x", status=StepStatus.COMPLETE, attempts=1),
            Step(name="b", action="y", status=StepStatus.ERROR, attempts=3, error="boom"),
            Step(name="c", action="z", status=StepStatus.SKIPPED),
        ],
        plan=[ActionSpec(name=n, action="x") for n in "abc"],
        owner=None,
        lease_until=None,
    )
    stats = summarize({"complete": 3, "error": 1, "running": 2}, [10.0, 20.0, 30.0, 40.0], [failed])
    assert (stats.total, stats.running, stats.complete, stats.error) == (6, 2, 3, 1)
    assert stats.success_rate == 0.75
    assert stats.average_duration_ms == 25
    assert stats.p95_duration_ms == pytest.approx(38.5)
    [failure] = stats.recent_failures
    assert failure.failed_step is not None
    assert (failure.failed_step.name, failure.failed_step.attempts) == ("b", 3)
    assert failure.error == "step 'b' failed: boom"


def test_summarize_nothing() -> None:
    stats = summarize({}, [], [])
    assert stats.total == 0
    assert stats.success_rate is None
    assert stats.average_duration_ms is None
    assert stats.p95_duration_ms is None
