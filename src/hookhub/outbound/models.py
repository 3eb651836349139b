"""What the outgoing-webhook API takes and gives (seed 004's shapes, plus hookhub's fields)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from hookhub.events import UtcDatetime
from hookhub.outbound.delivery import DeliveryStatus
from hookhub.outbound.matching import PATTERN_REGEX
from hookhub.outbound.ssrf import UnsafeURLError, split_url

MAX_URL_CHARS = 2048
MAX_SCHEDULE_STEPS = 20
#: The longest single wait a custom retry schedule may hold (one week).
MAX_SCHEDULE_STEP_S = 7 * 24 * 3600
DEFAULT_MAX_CONCURRENCY = 4
MAX_CONCURRENCY = 64
#: The highest per-webhook rate a webhook may ask for, in requests a second.
MAX_RATE_PER_S = 10_000
MIN_SECRET_CHARS = 8


def _http_url(value: str) -> str:
    # urlsplit silently drops leading spaces and tabs/newlines, so such a URL would pass the
    # SSRF check as one URL and be sent (or refused by httpx at every attempt) as another.
    if any(char.isspace() or not char.isprintable() for char in value):
        raise ValueError("URL must not contain spaces or control characters")
    try:
        split_url(value)
    except UnsafeURLError as exc:
        raise ValueError(exc.message) from None
    return value


HttpUrl = Annotated[str, Field(min_length=1, max_length=MAX_URL_CHARS), AfterValidator(_http_url)]
EventPattern = Annotated[str, Field(min_length=1, max_length=128, pattern=PATTERN_REGEX)]
#: At least one step: the dispatcher reads an empty schedule as "unset" and would silently
#: use the default one; ``null`` is how a caller asks for the default.
RetrySchedule = Annotated[
    list[Annotated[int, Field(ge=1, le=MAX_SCHEDULE_STEP_S)]],
    Field(min_length=1, max_length=MAX_SCHEDULE_STEPS),
]
Secret = Annotated[str, Field(min_length=MIN_SECRET_CHARS, max_length=255)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    url: HttpUrl
    event_type: EventPattern
    secret: Secret | None = None
    description: str | None = Field(default=None, max_length=1000)
    is_active: bool = True
    retry_schedule_s: RetrySchedule | None = None
    rate_limit_per_s: float | None = Field(default=None, gt=0, le=MAX_RATE_PER_S)
    max_concurrency: int = Field(default=DEFAULT_MAX_CONCURRENCY, ge=1, le=MAX_CONCURRENCY)


class WebhookUpdate(BaseModel):
    """Any field of a webhook; a field left out keeps its value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: HttpUrl | None = None
    event_type: EventPattern | None = None
    description: str | None = Field(default=None, max_length=1000)
    is_active: bool | None = None
    #: A new secret rotates: the old one keeps signing for the overlap.
    secret: Secret | None = None
    retry_schedule_s: RetrySchedule | None = None
    rate_limit_per_s: float | None = Field(default=None, gt=0, le=MAX_RATE_PER_S)
    max_concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)


class WebhookOut(BaseModel):
    id: str
    name: str
    url: str
    event_type: str
    description: str | None
    is_active: bool
    secret_prefix: str
    retry_schedule_s: list[int] | None
    rate_limit_per_s: float | None
    max_concurrency: int
    disabled_reason: str | None
    failing_since: UtcDatetime | None
    previous_secret_expires_at: UtcDatetime | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class WebhookWithSecret(WebhookOut):
    """Creation and rotation answers: the only times the full secret is shown."""

    secret: str


class RotateSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: Secret | None = None


class AttemptOut(BaseModel):
    id: str
    attempted_at: UtcDatetime
    status_code: int | None
    latency_ms: float | None
    response_excerpt: str | None
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_retry_at: UtcDatetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: UtcDatetime
    completed_at: UtcDatetime | None


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any]
    attempt_log: list[AttemptOut]


class WebhookStats(BaseModel):
    total: int
    pending: int
    success: int
    failed: int
    success_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    last_success_at: UtcDatetime | None
    last_failure_at: UtcDatetime | None


class OverallStats(WebhookStats):
    webhooks: int
    active_webhooks: int


class RecoverResult(BaseModel):
    requeued: int


class WebhookRecord(WebhookOut):
    """A webhook as the services see it, secrets included. Never returned by the API."""

    secret: str = Field(repr=False)
    previous_secret: str | None = Field(repr=False)

    def public(self) -> WebhookOut:
        return WebhookOut.model_validate(self.model_dump(exclude={"secret", "previous_secret"}))


class ClaimedDelivery(BaseModel):
    """A due delivery leased to one dispatcher, with what it needs to send."""

    id: str
    lease_token: str
    attempts: int
    event_id: str
    event_type: str
    occurred_at: UtcDatetime
    payload: dict[str, Any]
    webhook: WebhookRecord
