"""Delivery states and what one attempt's result means (pure: ``now`` is an argument).

::

    pending ──2xx──────────────> success
       │  ╰─error, retries left─> pending (next_attempt_at set)
       ╰─410, or retries spent──> failed
    success / failed ──resend or recover──> pending

A delivery is pending until it succeeds or gives up; its id is the ``webhook-id`` header on
every attempt, so a receiver can drop repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hookhub.errors import ConflictError
from hookhub.outbound.schedule import next_attempt_at

#: Keep this much of a receiver's answer in the delivery log.
RESPONSE_EXCERPT_CHARS = 1024
MAX_ERROR_CHARS = 500
#: Statuses that carry a ``Retry-After`` worth honouring.
RETRY_AFTER_STATUSES = frozenset({429, 503})
GONE = 410


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"


_ALLOWED: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    DeliveryStatus.PENDING: frozenset(DeliveryStatus),
    DeliveryStatus.SUCCESS: frozenset({DeliveryStatus.PENDING}),
    DeliveryStatus.FAILED: frozenset({DeliveryStatus.PENDING}),
}


class IllegalTransitionError(ConflictError):
    """A delivery was asked to move between states that have no edge between them."""


def transition(current: DeliveryStatus, target: DeliveryStatus) -> DeliveryStatus:
    if target not in _ALLOWED[current]:
        raise IllegalTransitionError(f"a {current} delivery cannot become {target}")
    return target


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt gave: a status code, or an error before any answer."""

    status_code: int | None
    error: str | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True)
class Verdict:
    status: DeliveryStatus
    next_attempt_at: datetime | None
    #: The receiver said it is gone for good (410): the webhook is to be disabled.
    disable_webhook: bool = False


def judge(
    result: AttemptResult,
    *,
    attempts_made: int,
    now: datetime,
    schedule_s: Sequence[int],
    rand: Callable[[], float],
) -> Verdict:
    """The delivery's next state after its ``attempts_made``-th attempt gave ``result``."""
    code = result.status_code
    if code is not None and 200 <= code < 300:
        return Verdict(DeliveryStatus.SUCCESS, None)
    if code == GONE:
        return Verdict(DeliveryStatus.FAILED, None, disable_webhook=True)
    retry_after = result.retry_after_s if code in RETRY_AFTER_STATUSES else None
    retry_at = next_attempt_at(
        attempts_made, now, schedule_s=schedule_s, retry_after_s=retry_after, rand=rand
    )
    if retry_at is None:
        return Verdict(DeliveryStatus.FAILED, None)
    return Verdict(DeliveryStatus.PENDING, retry_at)


def should_disable_for_failures(
    failing_since: datetime | None, now: datetime, disable_after: timedelta
) -> bool:
    """True once a webhook has had nothing but failures for ``disable_after``."""
    return failing_since is not None and now - failing_since >= disable_after
