"""Running one execution: its steps in order, each with its retries, history written as it goes.

Contract:

- Steps run in plan order. A step's parameters are rendered just before each attempt, over
  ``{"trigger": ..., "actions": {earlier step: {"result": ...}}}``.
- A step whose parameters do not render (:class:`TemplateError`) or do not fit the action
  (:class:`ActionError`) fails at once: trying again cannot help. A step whose action fails
  (:class:`ActionFailed`, a time-out, any other error) is tried again per its
  :class:`RetryPolicy`, waiting ``backoff_s * 2**(n-1)`` after the n-th failure with the
  injected ``sleep``. The execution then ends in ``error`` with that step's error; later steps
  are marked ``skipped`` and never run.
- Before an attempt starts, the step is stored as ``running``; so after a crash, a step found
  ``running`` may have taken effect, and is not repeated (see :meth:`Runner.fail_interrupted`).
  A step whose action is repeatable (``ping``, ``notification``) skips that write: after a
  crash it is found as it was before, and simply runs again.
- Every write names this process as the owner; when another process has taken the execution
  over, the write fails and :class:`LeaseLost` ends the run here without touching history.
- Writes of concurrent runs share commits (:class:`~hookhub.store.writes.HotWrites`, with
  the incoming requests), each still conditional on its own execution; a run waits for its
  write's commit before going on.
- The audit entries of the actions a run calls go through the same writer, without the run
  waiting for them: queued before the write that records the step's end, each is committed
  with it or before it. One that cannot be stored is logged (``action.audit_failed``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import orjson
import structlog

from hookhub.actions import ActionCall, ActionContext, ActionError, ActionFailed, ActionRegistry
from hookhub.audit import AuditRecord, AuditWriter
from hookhub.automations.models import ActionSpec, RetryPolicy, Step
from hookhub.automations.repository import (
    ExecutionRecord,
    finish_update,
    progress_update,
)
from hookhub.automations.states import (
    ExecutionStatus,
    StepStatus,
    execution_transition,
    step_transition,
)
from hookhub.automations.templates import render
from hookhub.clock import Clock
from hookhub.errors import HookhubError, TemplateError
from hookhub.store.writes import HotWrites, WriteResult

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]

#: A step's retries when its spec names none.
DEFAULT_RETRIES = RetryPolicy()
#: Longest error text kept for a step or an execution (the column holds 1000 characters).
MAX_ERROR_CHARS = 900
UNEXPECTED_FAILURE = "the action failed unexpectedly (details are in the log)"
_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def actor_for(automation_id: str) -> str:
    """Who runs the actions of an automation, in the audit log and on what they cause."""
    return f"automation:{automation_id}"


def json_data(value: Any) -> tuple[Any, int]:
    """``value`` as plain JSON data (datetimes as ISO text with ``Z``), and its size in bytes.

    Raises ``TypeError`` for a value JSON cannot hold.
    """
    encoded = orjson.dumps(value, default=_plain, option=_JSON_OPTIONS)
    return orjson.loads(encoded), len(encoded)


def _plain(value: Any) -> Any:
    # Header and query mappings (Starlette's Headers, QueryParams) and tuples arrive from the
    # HTTP layer as they are; JSON holds them as objects and lists.
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def capped(value: Any, size: int, max_bytes: int) -> Any:
    """What the history keeps of a large value: a marker with its size."""
    return value if size <= max_bytes else {"truncated": True, "bytes": size}


class LeaseLost(Exception):
    """Another process took this execution over; this one must stop running it."""


class Runner:
    def __init__(
        self,
        writes: HotWrites,
        registry: ActionRegistry,
        context: ActionContext,
        *,
        clock: Clock,
        sleep: Sleep,
        owner: str,
        step_timeout_s: float,
        result_max_bytes: int,
    ) -> None:
        self._registry = registry
        self._writes = writes
        self._clock = clock
        self._sleep = sleep
        self._owner = owner
        self._step_timeout_s = step_timeout_s
        self._result_max_bytes = result_max_bytes
        self._context = dataclasses.replace(context, audit=_RunAudit(writes))

    async def run(self, record: ExecutionRecord, trigger: dict[str, Any]) -> ExecutionStatus:
        """Run the steps not yet complete, in order; the execution's final status.

        Raises :class:`LeaseLost` when another process took the execution over.
        """
        steps = [step.model_copy() for step in record.steps]
        results: dict[str, Any] = {
            step.name: {"result": step.result}
            for step in steps
            if step.status == StepStatus.COMPLETE
        }
        context = {"trigger": trigger, "actions": results}
        call = ActionCall(
            actor=actor_for(record.automation_id),
            request_id=record.request_id,
            execution_id=record.id,
        )
        for index, spec in enumerate(record.plan):
            if steps[index].status == StepStatus.COMPLETE:
                continue
            result, error = await self._step(record.id, spec, steps, index, context, call)
            if error is not None:
                for later in steps[index + 1 :]:
                    later.status = step_transition(later.status, StepStatus.SKIPPED)
                message = f"step {spec.name!r} failed: {error}"
                return await self._finish(record, steps, ExecutionStatus.ERROR, message, spec.name)
            results[spec.name] = {"result": result}
        return await self._finish(record, steps, ExecutionStatus.COMPLETE, None, None)

    async def fail_interrupted(self, record: ExecutionRecord, reason: str) -> None:
        """End an execution that cannot be resumed: ``error``, with ``reason``."""
        steps = [step.model_copy() for step in record.steps]
        failed: str | None = None
        now = self._clock()
        for step in steps:
            if step.status == StepStatus.RUNNING:
                step.status = step_transition(step.status, StepStatus.ERROR)
                step.error = "interrupted"
                step.finished_at = now
                if step.started_at is not None:
                    step.duration_ms = _ms(step.started_at, now)
                failed = step.name
            elif step.status == StepStatus.PENDING:
                step.status = step_transition(step.status, StepStatus.SKIPPED)
        await self._finish(record, steps, ExecutionStatus.ERROR, reason, failed)

    async def _step(
        self,
        execution_id: str,
        spec: ActionSpec,
        steps: list[Step],
        index: int,
        context: dict[str, Any],
        call: ActionCall,
    ) -> tuple[Any, str | None]:
        """Run one step with its retries: ``(result, None)`` or ``(None, error)``."""
        step = steps[index]
        step.status = step_transition(step.status, StepStatus.RUNNING)
        step.started_at = self._clock()
        policy = spec.retries or DEFAULT_RETRIES
        mark_in_flight = not self._registry.is_repeatable(spec.action)
        error = ""
        for attempt in range(1, policy.max_attempts + 1):
            step.attempts = attempt
            if mark_in_flight:
                await self._save(execution_id, steps)
            converted, error, retryable = await self._attempt(spec, context, call)
            if converted is not None:
                data, size = converted
                self._end_step(step, StepStatus.COMPLETE)
                step.result = capped(data, size, self._result_max_bytes)
                step.error = None
                return data, None
            step.error = error
            if not retryable or attempt == policy.max_attempts:
                break
            await self._sleep(policy.backoff_s * 2 ** (attempt - 1))
        self._end_step(step, StepStatus.ERROR)
        attempts = f" after {step.attempts} attempts" if step.attempts > 1 else ""
        return None, f"{error}{attempts}"

    async def _attempt(
        self, spec: ActionSpec, context: dict[str, Any], call: ActionCall
    ) -> tuple[tuple[Any, int] | None, str, bool]:
        """One attempt: ``((result as JSON data, its size), "", _)`` or
        ``(None, error, retryable)``."""
        try:
            params = render(spec.params, context)
        except TemplateError as exc:
            return None, _clip(exc.message), False
        try:
            async with asyncio.timeout(self._step_timeout_s):
                result = await self._registry.run(spec.action, params, self._context, call)
        except ActionError as exc:
            return None, _clip(_with_details(exc)), False
        except ActionFailed as exc:
            return None, _clip(exc.message), True
        except TimeoutError:
            return None, f"timed out after {self._step_timeout_s:g} s", True
        except HookhubError as exc:
            return None, _clip(exc.message), True
        except Exception:
            # The message of an arbitrary exception may hold anything; the log gets it.
            log.exception("automation.action_crashed", action=spec.action, step=spec.name)
            return None, UNEXPECTED_FAILURE, True
        try:
            converted = json_data(result)
        except TypeError:
            return None, f"action {spec.action!r} returned a value that is not JSON", False
        return converted, "", False

    def _end_step(self, step: Step, status: StepStatus) -> None:
        now = self._clock()
        step.status = step_transition(step.status, status)
        step.finished_at = now
        if step.started_at is not None:
            step.duration_ms = _ms(step.started_at, now)

    async def _save(self, execution_id: str, steps: list[Step]) -> None:
        saved = await self._writes.update(
            progress_update(execution_id, owner=self._owner, steps=steps)
        )
        if not saved:
            raise LeaseLost(execution_id)

    async def _finish(
        self,
        record: ExecutionRecord,
        steps: list[Step],
        status: ExecutionStatus,
        error: str | None,
        failed_step: str | None,
    ) -> ExecutionStatus:
        final = execution_transition(ExecutionStatus.RUNNING, status)
        now = self._clock()
        duration_ms = _ms(record.started_at, now)
        finished = await self._writes.update(
            finish_update(
                record.id,
                owner=self._owner,
                status=final,
                steps=steps,
                finished_at=now,
                duration_ms=duration_ms,
                error=_clip(error) if error is not None else None,
                failed_step=failed_step,
            )
        )
        if not finished:
            raise LeaseLost(record.id)
        log.info(
            "automation.execution_finished",
            execution_id=record.id,
            automation_id=record.automation_id,
            status=str(final),
            duration_ms=round(duration_ms, 3),
            failed_step=failed_step,
        )
        return final


class _RunAudit(AuditWriter):
    """The audit log as the actions of runs see it: entries queued in the shared writer, not
    waited for (see the module's contract)."""

    def __init__(self, writes: HotWrites) -> None:
        self._writes = writes

    async def _store(self, record: AuditRecord) -> AuditRecord:
        written = self._writes.enqueue(record)
        written.add_done_callback(lambda done: _audit_written(record, done))
        return record


def _audit_written(record: AuditRecord, done: asyncio.Future[WriteResult]) -> None:
    failure = None if done.cancelled() else done.exception()
    if done.cancelled() or failure is not None:
        # The action has run: the log keeps the record the audit log could not.
        log.error(
            "action.audit_failed",
            action=record.target,
            actor=record.actor,
            request_id=record.request_id,
            details=record.details,
            error=type(failure).__name__ if failure is not None else "cancelled",
        )


def _with_details(exc: ActionError) -> str:
    if not exc.errors:
        return exc.message
    details = "; ".join(f"{item['path'] or '(params)'}: {item['message']}" for item in exc.errors)
    return f"{exc.message}: {details}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"


def _ms(start: datetime, end: datetime) -> float:
    return float((end - start).total_seconds() * 1000)
