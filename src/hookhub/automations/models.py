"""What the automation API takes and gives, and the shape of an execution's history."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hookhub.automations.states import ExecutionStatus, StepStatus
from hookhub.events import UtcDatetime
from hookhub.outbound.matching import PATTERN_REGEX

MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 1000
MAX_ACTIONS = 20
MAX_ATTEMPTS = 10
#: The longest single wait between two attempts of a step.
MAX_BACKOFF_S = 3600.0
DEFAULT_BACKOFF_S = 1.0
MAX_ENDPOINT_KEY_CHARS = 128
MAX_ACTION_NAME_CHARS = 100
MAX_METHOD_CHARS = 16
#: Step names are how later templates refer to results (``actions.<name>.result``).
STEP_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$"

StepName = Annotated[str, Field(pattern=STEP_NAME_PATTERN)]
EventPattern = Annotated[str, Field(min_length=1, max_length=128, pattern=PATTERN_REGEX)]


class AutomationStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class ManagedBy(StrEnum):
    """Where an automation is defined: the API, or the TOML config (read-only over the API)."""

    API = "api"
    CONFIG = "config"


class RetryPolicy(BaseModel):
    """Attempts of one step; after the n-th failure it waits ``backoff_s * 2**(n-1)``."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=1, ge=1, le=MAX_ATTEMPTS)
    backoff_s: float = Field(default=DEFAULT_BACKOFF_S, ge=0, le=MAX_BACKOFF_S)


class ActionSpec(BaseModel):
    """One step: a named run of a registered action with templated parameters."""

    model_config = ConfigDict(extra="forbid")

    name: StepName
    action: str = Field(min_length=1, max_length=MAX_ACTION_NAME_CHARS)
    params: dict[str, Any] = Field(default_factory=dict)
    retries: RetryPolicy | None = None


class TriggerSpec(BaseModel):
    """``{"endpoint": <id or slug>}`` or ``{"event": <type pattern>}``, exactly one."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str | None = Field(default=None, min_length=1, max_length=MAX_ENDPOINT_KEY_CHARS)
    event: EventPattern | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TriggerSpec:
        if (self.endpoint is None) == (self.event is None):
            raise ValueError("give exactly one of endpoint or event")
        return self

    @property
    def kind(self) -> str:
        return "endpoint" if self.endpoint is not None else "event"

    @property
    def value(self) -> str:
        return self.endpoint or self.event or ""  # the validator guarantees one is set


def _unique_step_names(actions: list[ActionSpec] | None) -> None:
    if actions is None:
        return
    seen: set[str] = set()
    for spec in actions:
        if spec.name in seen:
            raise ValueError(f"action name {spec.name!r} is used twice")
        seen.add(spec.name)


class AutomationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    status: AutomationStatus = AutomationStatus.ACTIVE
    trigger: TriggerSpec
    filter: dict[str, Any] | None = None
    actions: list[ActionSpec] = Field(min_length=1, max_length=MAX_ACTIONS)

    @model_validator(mode="after")
    def _names(self) -> AutomationCreate:
        _unique_step_names(self.actions)
        return self


class AutomationUpdate(BaseModel):
    """Any field of an automation; a field left out keeps its value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_CHARS)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    status: AutomationStatus | None = None
    trigger: TriggerSpec | None = None
    filter: dict[str, Any] | None = None
    actions: list[ActionSpec] | None = Field(default=None, min_length=1, max_length=MAX_ACTIONS)

    @model_validator(mode="after")
    def _names(self) -> AutomationUpdate:
        _unique_step_names(self.actions)
        return self


class AutomationOut(BaseModel):
    id: str
    name: str
    description: str | None
    status: AutomationStatus
    trigger: dict[str, str]
    filter: dict[str, Any] | None
    actions: list[ActionSpec]
    managed_by: ManagedBy
    created_at: UtcDatetime
    updated_at: UtcDatetime


class Step(BaseModel):
    """One step of an execution as its history shows it."""

    name: str
    action: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    duration_ms: float | None = None
    result: Any = None
    error: str | None = None


class ExecutionOut(BaseModel):
    id: str
    automation_id: str
    status: ExecutionStatus
    started_at: UtcDatetime
    finished_at: UtcDatetime | None
    duration_ms: float | None
    error: str | None
    failed_step: str | None
    request_id: str | None
    depth: int


class ExecutionDetail(ExecutionOut):
    trigger: dict[str, Any]
    steps: list[Step]


class Failure(BaseModel):
    execution_id: str
    started_at: UtcDatetime
    finished_at: UtcDatetime | None
    error: str | None
    failed_step: Step | None


class AutomationStats(BaseModel):
    total: int
    running: int
    complete: int
    error: int
    #: ``complete / (complete + error)``; null before anything finished.
    success_rate: float | None
    average_duration_ms: float | None
    p95_duration_ms: float | None
    recent_failures: list[Failure]


class ManualRun(BaseModel):
    """A trigger made by hand, to try an automation out."""

    model_config = ConfigDict(extra="forbid")

    body: Any = Field(default_factory=dict)
    #: What ``trigger.method`` says; a filter or template may look at it.
    method: str = Field(default="MANUAL", min_length=1, max_length=MAX_METHOD_CHARS)
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    #: For an event automation: ``{type, payload, ...}``, shaped like a stored event.
    event: dict[str, Any] | None = None
    #: Apply the automation's filter (by default a manual run skips it).
    apply_filter: bool = False
    #: Wait for the execution to finish (up to a bound) and answer with its history.
    wait: bool = False


class RunResult(BaseModel):
    matched: bool
    execution_id: str | None
    execution: ExecutionDetail | None = None


class Deleted(BaseModel):
    success: bool = True
    message: str = "Automation deleted"
