"""Managing automations: validated definitions, their history and stats, manual runs, and the
automations defined in the config file.

A definition is checked as far as it can be before any trigger exists: the filter's operators
and operands, each template's syntax, each action's existence, and each parameter that holds
no template against the action's model. Problems come back together as one 422 naming each
path (``actions.0.action``, ``actions.1.params.title``, ``filter.body.priority.$gtx``).

Config-defined automations are the config file's: they are created or updated from it at
start-up (matched by name), deleted (with their history) when they leave it, and read-only
over the API (409), so the file stays the one place they change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from hookhub.actions import ActionError, ActionRegistry
from hookhub.automations import filters
from hookhub.automations.executor import Executor
from hookhub.automations.models import (
    AutomationCreate,
    AutomationOut,
    AutomationStats,
    AutomationStatus,
    AutomationUpdate,
    ExecutionDetail,
    ExecutionOut,
    ManagedBy,
    ManualRun,
    RunResult,
    TriggerSpec,
)
from hookhub.automations.repository import (
    AutomationRecord,
    AutomationRepository,
    ExecutionRepository,
)
from hookhub.automations.states import ExecutionStatus
from hookhub.automations.stats import DURATION_SAMPLE, RECENT_FAILURES, summarize
from hookhub.automations.templates import contains_template, template_errors
from hookhub.clock import Clock, isoformat_z
from hookhub.errors import ConfigError, ConflictError, InvalidInputError, NotFoundError
from hookhub.paging import Page

log = structlog.get_logger(__name__)

#: How long ``POST /automations/{id}/run`` with ``wait`` waits before answering anyway.
MANUAL_RUN_WAIT_S = 30.0
NOT_FOUND = "Automation not found"


def check_definition(definition: AutomationCreate, registry: ActionRegistry) -> None:
    """Raise :class:`InvalidInputError` listing every problem found before run time."""
    errors: list[dict[str, Any]] = []
    if definition.filter is not None:
        try:
            filters.validate(definition.filter)
        except InvalidInputError as exc:
            errors.extend(exc.errors or [])
    known = registry.registered()
    for index, spec in enumerate(definition.actions):
        where = f"actions.{index}"
        if spec.action not in known:
            errors.append({"path": f"{where}.action", "message": f"unknown action {spec.action!r}"})
        errors.extend(template_errors(spec.params, f"{where}.params"))
        if spec.action in known:
            errors.extend(_param_errors(registry, spec.action, spec.params, f"{where}.params"))
    if errors:
        message = errors[0]["message"] if len(errors) == 1 else "Invalid automation"
        raise InvalidInputError(message, errors=errors)


def _param_errors(
    registry: ActionRegistry, action: str, params: dict[str, Any], where: str
) -> list[dict[str, Any]]:
    """The action model's complaints about parameters that hold no template.

    A templated parameter's value is known only at run time, so complaints about it (its type,
    its length) wait until then; a missing or unexpected parameter is wrong whatever renders.
    """
    try:
        registry.validate(action, params)
    except ActionError as exc:
        found = []
        for error in exc.errors or []:
            top = str(error["path"]).split(".", 1)[0]
            if top in params and contains_template(params[top]):
                continue
            found.append({"path": f"{where}.{error['path']}", "message": error["message"]})
        return found
    return []


def _invalid(exc: ValidationError) -> InvalidInputError:
    errors = [
        {"path": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors(include_input=False, include_url=False)
    ]
    return InvalidInputError("Invalid automation", errors=errors)


class AutomationService:
    def __init__(
        self,
        automations: AutomationRepository,
        executions: ExecutionRepository,
        executor: Executor,
        registry: ActionRegistry,
        clock: Clock,
    ) -> None:
        self._automations = automations
        self._executions = executions
        self._executor = executor
        self._registry = registry
        self._clock = clock

    async def _require(self, automation_id: str) -> AutomationRecord:
        found = await self._automations.get(automation_id)
        if found is None:
            raise NotFoundError(NOT_FOUND)
        return found

    async def create(self, body: AutomationCreate) -> AutomationOut:
        check_definition(body, self._registry)
        created = await self._automations.create(_fields(body), now=self._clock())
        self._executor.definitions_changed()
        return created.public()

    async def get(self, automation_id: str) -> AutomationOut:
        return (await self._require(automation_id)).public()

    async def list(
        self, *, status: AutomationStatus | None, limit: int, offset: int
    ) -> Page[AutomationOut]:
        return await self._automations.page(status=status, limit=limit, offset=offset)

    async def update(self, automation_id: str, body: AutomationUpdate) -> AutomationOut:
        """Change the fields given; the result is checked whole, as at creation."""
        current = _require_api(await self._require(automation_id))
        changes = body.model_dump(exclude_unset=True)
        merged = {**_definition(current), **changes}
        try:
            definition = AutomationCreate.model_validate(merged)
        except ValidationError as exc:
            raise _invalid(exc) from None
        check_definition(definition, self._registry)
        fields = {name: value for name, value in _fields(definition).items() if name in changes}
        updated = await self._automations.update(automation_id, fields, now=self._clock())
        if updated is None:
            raise NotFoundError(NOT_FOUND)
        self._executor.definitions_changed()
        return updated.public()

    async def delete(self, automation_id: str) -> None:
        _require_api(await self._require(automation_id))
        if not await self._automations.delete(automation_id):
            raise NotFoundError(NOT_FOUND)
        self._executor.definitions_changed()

    async def executions(
        self, automation_id: str, *, status: ExecutionStatus | None, limit: int, offset: int
    ) -> Page[ExecutionOut]:
        await self._require(automation_id)
        return await self._executions.list_for(
            automation_id, status=status, limit=limit, offset=offset
        )

    async def execution(self, automation_id: str, execution_id: str) -> ExecutionDetail:
        found = await self._executions.get(execution_id)
        if found is None or found.automation_id != automation_id:
            await self._require(automation_id)
            raise NotFoundError("Execution not found")
        return found.public()

    async def stats(self, automation_id: str) -> AutomationStats:
        await self._require(automation_id)
        counts = await self._executions.counts(automation_id)
        durations = await self._executions.finished_durations(automation_id, sample=DURATION_SAMPLE)
        failures = await self._executions.recent_failures(automation_id, limit=RECENT_FAILURES)
        return summarize(counts, durations, failures)

    async def run(
        self, automation_id: str, body: ManualRun, *, request_id: str | None
    ) -> RunResult:
        """Run an automation now on a trigger made by hand (whatever its status)."""
        automation = await self._require(automation_id)
        trigger = _manual_trigger(automation, body, request_id, self._clock)
        if body.apply_filter and not filters.matches(automation.filter, trigger):
            return RunResult(matched=False, execution_id=None)
        record = await self._executor.run_now(automation, trigger, request_id)
        if not body.wait:
            return RunResult(matched=True, execution_id=record.id)
        await self._executor.wait(record.id, MANUAL_RUN_WAIT_S)
        return RunResult(
            matched=True,
            execution_id=record.id,
            execution=await self.execution(automation_id, record.id),
        )

    async def sync_config(self, definitions: Sequence[AutomationCreate]) -> None:
        """Make the config-defined automations in the store those of ``definitions``.

        Raises :class:`ConfigError` naming the automation and the problem, before any change.
        """
        for definition in definitions:
            try:
                check_definition(definition, self._registry)
            except InvalidInputError as exc:
                problems = "; ".join(
                    f"{error['path']}: {error['message']}" for error in exc.errors or []
                )
                raise ConfigError(
                    f"HOOKHUB_AUTOMATIONS: automation {definition.name!r}: {problems}"
                ) from None
        stored = {
            record.config_name: record for record in await self._automations.managed_by_config()
        }
        now = self._clock()
        for definition in definitions:
            fields = _fields(definition)
            existing = stored.pop(definition.name, None)
            if existing is None:
                try:
                    await self._automations.create(fields, now=now, config_name=definition.name)
                except IntegrityError:
                    log.info("automation.config_created_elsewhere", name=definition.name)
                continue
            if _definition(existing) != fields:
                await self._automations.update(existing.id, fields, now=now)
        for leftover in stored.values():
            await self._automations.delete(leftover.id)
        self._executor.definitions_changed()
        log.info("automation.config_synced", defined=len(definitions), removed=len(stored))


def _require_api(record: AutomationRecord) -> AutomationRecord:
    if record.managed_by == ManagedBy.CONFIG:
        raise ConflictError(
            "this automation is defined in the config file; change it there and restart"
        )
    return record


def _fields(definition: AutomationCreate) -> dict[str, Any]:
    return definition.model_dump(mode="json")


def _definition(record: AutomationRecord) -> dict[str, Any]:
    """A stored automation as the fields of its definition (for merging and comparing)."""
    return AutomationCreate(
        name=record.name,
        description=record.description,
        status=record.status,
        trigger=TriggerSpec.model_validate(record.trigger),
        filter=record.filter,
        actions=record.actions,
    ).model_dump(mode="json")


def _manual_trigger(
    automation: AutomationRecord, body: ManualRun, request_id: str | None, clock: Clock
) -> dict[str, Any]:
    if body.event is not None:
        return {"event": body.event, "manual": True}
    endpoint = automation.trigger.get("endpoint")
    return {
        "body": body.body,
        "query": body.query,
        "headers": body.headers,
        "method": body.method,
        "endpoint": {"id": endpoint, "slug": endpoint, "name": None} if endpoint else None,
        "request_id": request_id,
        "received_at": isoformat_z(clock()),
        "manual": True,
    }
