"""Execution figures of one automation (pure): counts, success rate, durations, failures."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from hookhub.automations.models import AutomationStats, Failure
from hookhub.automations.repository import ExecutionRecord
from hookhub.automations.states import ExecutionStatus, StepStatus
from hookhub.percentiles import percentile

#: Durations are taken over at most this many recent finished executions.
DURATION_SAMPLE = 1000
#: Failures listed with their details.
RECENT_FAILURES = 10


def summarize(
    counts: Mapping[str, int],
    durations_ms: Sequence[float],
    failures: Sequence[ExecutionRecord],
) -> AutomationStats:
    complete = counts.get(ExecutionStatus.COMPLETE, 0)
    error = counts.get(ExecutionStatus.ERROR, 0)
    finished = complete + error
    return AutomationStats(
        total=sum(counts.values()),
        running=counts.get(ExecutionStatus.RUNNING, 0),
        complete=complete,
        error=error,
        success_rate=complete / finished if finished else None,
        average_duration_ms=statistics.fmean(durations_ms) if durations_ms else None,
        p95_duration_ms=percentile(durations_ms, 95),
        recent_failures=[_failure(record) for record in failures],
    )


def _failure(record: ExecutionRecord) -> Failure:
    failed = next((step for step in record.steps if step.status == StepStatus.ERROR), None)
    return Failure(
        execution_id=record.id,
        started_at=record.started_at,
        finished_at=record.finished_at,
        error=record.error,
        failed_step=failed,
    )
