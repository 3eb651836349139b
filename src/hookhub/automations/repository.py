"""Reads and writes of automations and their executions; no session escapes a method.

Executions are written by their owner only: every progress write names the owner and
requires the execution to be still running, so a process that lost its lease (it stalled past
``lease_until`` and another process recovered the execution) cannot overwrite the history.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.audit import AuditRecord
from hookhub.automations.models import (
    ActionSpec,
    AutomationOut,
    AutomationStatus,
    ExecutionDetail,
    ExecutionOut,
    ManagedBy,
    Step,
)
from hookhub.automations.states import ExecutionStatus
from hookhub.errors import ConflictError
from hookhub.events import new_id
from hookhub.paging import Page
from hookhub.store.automation_tables import Automation, AutomationExecution
from hookhub.store.batch import Batch, ShortCount
from hookhub.store.bulk import Bulk
from hookhub.store.engine import Database, runs_to_end
from hookhub.store.models import Base, EventRecord
from hookhub.store.repositories import add_audit_entries

_EXECUTIONS = Base.metadata.tables[AutomationExecution.__tablename__]
HELD_ID = "held_id"
HELD_OWNER = "held_owner"
HELD_IDS = "held_ids"
# Statements built once, so SQLAlchemy finds their compiled form without rebuilding its cache
# key. A write to a running execution while its owner holds it sets the columns named by the
# other parameters it is executed with.
#: Rows made by :func:`prepare`, a batch at a time.
INSERT_EXECUTIONS = Bulk(insert(_EXECUTIONS))
_UPDATE_HELD = update(_EXECUTIONS).where(
    _EXECUTIONS.c.id == bindparam(HELD_ID),
    _EXECUTIONS.c.owner == bindparam(HELD_OWNER),
    _EXECUTIONS.c.status == ExecutionStatus.RUNNING,
)
_WRITE_HELD = Bulk(_UPDATE_HELD)
#: The owners of those of some executions still running, locked (on PostgreSQL) until the
#: transaction ends, so that the writes to them that follow apply to exactly these.
_HELD = (
    select(_EXECUTIONS.c.id, _EXECUTIONS.c.owner)
    .where(
        _EXECUTIONS.c.id.in_(bindparam(HELD_IDS, expanding=True)),
        _EXECUTIONS.c.status == ExecutionStatus.RUNNING,
    )
    .with_for_update()
)


@dataclass(frozen=True)
class StoredPlan:
    """An automation's actions as an execution row stores them, and its steps before a run.

    Made once per loaded automation rather than once per execution; the rows and records of
    many executions share these documents and steps, which nothing changes once built (a
    runner works on copies of its record's steps).
    """

    plan: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    pending: tuple[Step, ...]


class AutomationRecord(AutomationOut):
    """An automation as the services see it (its config name included)."""

    config_name: str | None = None

    @functools.cached_property
    def stored_plan(self) -> StoredPlan:
        pending = _pending_steps(self.actions)
        return StoredPlan(
            plan=[spec.model_dump(mode="json") for spec in self.actions],
            steps=[step.model_dump(mode="json") for step in pending],
            pending=tuple(pending),
        )

    def public(self) -> AutomationOut:
        return AutomationOut.model_validate(self.model_dump(exclude={"config_name"}))


class ExecutionRecord(ExecutionDetail):
    """An execution with what its runner needs: the plan it runs and who holds it."""

    plan: list[ActionSpec]
    owner: str | None
    lease_until: datetime | None

    def public(self) -> ExecutionDetail:
        return ExecutionDetail.model_validate(
            self.model_dump(exclude={"plan", "owner", "lease_until"})
        )


@dataclass(frozen=True)
class NewExecution:
    automation_id: str
    trigger: dict[str, Any]
    plan: list[ActionSpec]
    request_id: str | None
    depth: int
    started_at: datetime
    #: One execution per automation per key (``event:<id>``); None for no such limit.
    trigger_key: str | None = None
    status: ExecutionStatus = ExecutionStatus.RUNNING
    error: str | None = None
    steps: list[Step] | None = None
    #: The plan and its pending steps already as documents (``AutomationRecord.stored_plan``).
    stored: StoredPlan | None = None


@dataclass(frozen=True)
class HeldUpdate:
    """A write to a running execution, applied only while ``owner`` still holds it."""

    execution_id: str
    owner: str
    values: dict[str, Any]


def progress_update(execution_id: str, *, owner: str, steps: list[Step]) -> HeldUpdate:
    """The steps as they stand, written while the execution runs."""
    return HeldUpdate(execution_id, owner, {"steps": [s.model_dump(mode="json") for s in steps]})


def finish_update(
    execution_id: str,
    *,
    owner: str,
    status: ExecutionStatus,
    steps: list[Step],
    finished_at: datetime,
    duration_ms: float,
    error: str | None,
    failed_step: str | None,
) -> HeldUpdate:
    """The execution's end: its final status and steps; it is no longer held by anyone."""
    return HeldUpdate(
        execution_id,
        owner,
        {
            "status": status,
            "steps": [step.model_dump(mode="json") for step in steps],
            "finished_at": finished_at,
            "duration_ms": duration_ms,
            "error": error,
            "failed_step": failed_step,
            "owner": None,
            "lease_until": None,
        },
    )


async def apply_held(
    batch: Batch,
    items: Sequence[HeldUpdate],
    audit: Sequence[AuditRecord] = (),
    *,
    read_first: bool,
) -> list[bool]:
    """Apply writes to running executions in the caller's transaction; whether each was applied.

    Each write is applied only while its ``owner`` holds the execution and it is running,
    so one lost lease refuses that write alone. The writes go out as one statement per set
    of columns written, rather than one each (on SQLite, each statement is a trip to the
    driver's thread). ``audit`` entries (of the actions the executions ran) are stored beside
    them, whichever writes are applied.

    The executions still held are read (and locked, on PostgreSQL) first, except on SQLite
    without ``read_first``: it takes one writer at a time and counts the rows a statement
    changed, so the writes are queued with the commit (:class:`~hookhub.store.batch.Batch`)
    as ``exact``, and a count short of the writes (a lease lost, which is rare) undoes the
    transaction and raises :class:`ShortCount`: the caller writes again with ``read_first``.
    """
    await add_audit_entries(batch, audit)
    if not items:
        return []
    connection = batch.connection
    # Two writes to one execution go in order, one statement each.
    in_order = len({item.execution_id for item in items}) < len(items)
    if not read_first and batch.queues:
        groups = [[_held_parameters(item)] for item in items] if in_order else _shapes(items)
        for parameters in groups:
            await batch.write(_WRITE_HELD, parameters, exact=True)
        return [True] * len(items)
    if len(items) == 1 or in_order:
        return [await _update_one(connection, item) for item in items]
    found = await connection.execute(_HELD, {HELD_IDS: [i.execution_id for i in items]})
    owners: dict[str, str | None] = {row.id: row.owner for row in found}
    applied = [owners.get(item.execution_id) == item.owner for item in items]
    held = [item for item, is_held in zip(items, applied, strict=True) if is_held]
    for parameters in _shapes(held):
        changed = await _WRITE_HELD.run(connection, parameters)
        if changed is not None and changed != len(parameters):
            # Held when read and not when written: another process wrote between the two
            # (the lock rules that out on PostgreSQL). The caller's group commit undoes the
            # batch and writes its items one by one.
            raise ConflictError("an execution changed hands while it was written")
    return applied


def _shapes(items: Sequence[HeldUpdate]) -> list[list[dict[str, Any]]]:
    """The writes grouped by the columns they set: one statement per group."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for item in items:
        shapes.setdefault(tuple(item.values), []).append(_held_parameters(item))
    return list(shapes.values())


async def _update_one(connection: AsyncConnection, item: HeldUpdate) -> bool:
    # A batch of one counts its row on every driver.
    return bool(await _WRITE_HELD.run(connection, [_held_parameters(item)]))


def _held_parameters(item: HeldUpdate) -> dict[str, Any]:
    return {HELD_ID: item.execution_id, HELD_OWNER: item.owner, **item.values}


@runs_to_end
class AutomationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, fields: dict[str, Any], *, now: datetime, config_name: str | None = None
    ) -> AutomationRecord:
        row = Automation(
            id=new_id(now),
            created_at=now,
            updated_at=now,
            config_name=config_name,
            managed_by=ManagedBy.CONFIG if config_name is not None else ManagedBy.API,
            **_columns(fields),
        )
        async with self._db.session() as session:
            session.add(row)
        return _automation(row)

    async def get(self, automation_id: str) -> AutomationRecord | None:
        async with self._db.session() as session:
            row = await session.get(Automation, automation_id)
            return _automation(row) if row is not None else None

    async def page(
        self, *, status: AutomationStatus | None, limit: int, offset: int
    ) -> Page[AutomationOut]:
        where = [Automation.status == status] if status is not None else []
        count = select(func.count()).select_from(Automation).where(*where)
        query = select(Automation).where(*where).order_by(Automation.id).limit(limit).offset(offset)
        async with self._db.session() as session:
            total = (await session.execute(count)).scalar_one()
            items = [_automation(row).public() for row in await session.scalars(query)]
        return Page(items=items, total=total, limit=limit, offset=offset)

    async def update(
        self, automation_id: str, fields: dict[str, Any], *, now: datetime
    ) -> AutomationRecord | None:
        async with self._db.session() as session:
            row = await session.get(Automation, automation_id)
            if row is None:
                return None
            for name, value in _columns(fields).items():
                setattr(row, name, value)
            row.updated_at = now
            return _automation(row)

    async def delete(self, automation_id: str) -> bool:
        async with self._db.session() as session:
            await session.execute(
                delete(AutomationExecution).where(
                    AutomationExecution.automation_id == automation_id
                )
            )
            result = await session.execute(delete(Automation).where(Automation.id == automation_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def active_for(self, kind: str, values: Sequence[str]) -> list[AutomationRecord]:
        """Active automations triggered by ``kind`` with any of ``values``, oldest first."""
        query = (
            select(Automation)
            .where(
                Automation.trigger_kind == kind,
                Automation.trigger_value.in_(list(values)),
                Automation.status == AutomationStatus.ACTIVE,
            )
            .order_by(Automation.id)
        )
        async with self._db.session() as session:
            return [_automation(row) for row in await session.scalars(query)]

    async def active_event_patterns(self) -> set[str]:
        query = select(Automation.trigger_value).where(
            Automation.trigger_kind == "event", Automation.status == AutomationStatus.ACTIVE
        )
        async with self._db.session() as session:
            return set(await session.scalars(query.distinct()))

    async def managed_by_config(self) -> list[AutomationRecord]:
        query = select(Automation).where(Automation.config_name.is_not(None))
        async with self._db.session() as session:
            return [_automation(row) for row in await session.scalars(query)]


@runs_to_end
class ExecutionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, items: Sequence[NewExecution], *, owner: str, lease_until: datetime
    ) -> list[ExecutionRecord]:
        """Store executions in one transaction, held by ``owner``; those whose trigger key is
        already taken (another process got the same event first) are left out."""
        added: list[ExecutionRecord] = []
        async with self._db.transaction() as connection:
            for item in items:
                values, record = prepare(item, owner=owner, lease_until=lease_until)
                if item.trigger_key is None:
                    await connection.execute(insert(_EXECUTIONS).values(**values))
                else:
                    dialect_insert = (
                        postgresql_insert
                        if connection.dialect.name == "postgresql"
                        else sqlite_insert
                    )
                    result = await connection.execute(
                        dialect_insert(_EXECUTIONS).values(**values).on_conflict_do_nothing()
                    )
                    if not result.rowcount:
                        continue
                added.append(record)
        return added

    async def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store rows made by :func:`prepare` (without trigger keys), in one transaction."""
        if not rows:
            return
        async with self._db.transaction() as connection:
            await INSERT_EXECUTIONS.run(connection, rows)

    async def get(self, execution_id: str) -> ExecutionRecord | None:
        async with self._db.session() as session:
            row = await session.get(AutomationExecution, execution_id)
            return _execution(row) if row is not None else None

    async def list_for(
        self, automation_id: str, *, status: ExecutionStatus | None, limit: int, offset: int
    ) -> Page[ExecutionOut]:
        where = [AutomationExecution.automation_id == automation_id]
        if status is not None:
            where.append(AutomationExecution.status == status)
        count = select(func.count()).select_from(AutomationExecution).where(*where)
        query = (
            select(AutomationExecution)
            .where(*where)
            .order_by(AutomationExecution.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._db.session() as session:
            total = (await session.execute(count)).scalar_one()
            items = [
                ExecutionOut.model_validate(_execution(row).model_dump())
                for row in await session.scalars(query)
            ]
        return Page(items=items, total=total, limit=limit, offset=offset)

    async def save_steps(self, execution_id: str, *, owner: str, steps: list[Step]) -> bool:
        """Record progress; False when ``owner`` no longer holds the running execution."""
        [saved] = await self.update_held([progress_update(execution_id, owner=owner, steps=steps)])
        return saved

    async def finish(
        self,
        execution_id: str,
        *,
        owner: str,
        status: ExecutionStatus,
        steps: list[Step],
        finished_at: datetime,
        duration_ms: float,
        error: str | None,
        failed_step: str | None,
    ) -> bool:
        """End the execution; False when ``owner`` no longer holds the running execution."""
        [finished] = await self.update_held(
            [
                finish_update(
                    execution_id,
                    owner=owner,
                    status=status,
                    steps=steps,
                    finished_at=finished_at,
                    duration_ms=duration_ms,
                    error=error,
                    failed_step=failed_step,
                )
            ]
        )
        return finished

    async def update_held(self, items: Sequence[HeldUpdate]) -> list[bool]:
        """Apply writes to running executions in one transaction; see :func:`apply_held`.

        Runs write through :class:`~hookhub.store.writes.HotWrites`; this is the same write
        on its own.
        """
        if not items:
            return []
        try:
            return await self._update_held(items, read_first=False)
        except ShortCount:
            return await self._update_held(items, read_first=True)

    async def _update_held(self, items: Sequence[HeldUpdate], *, read_first: bool) -> list[bool]:
        async with self._db.batch() as batch:
            return await apply_held(batch, items, read_first=read_first)

    async def renew(self, *, owner: str, ids: Sequence[str], lease_until: datetime) -> int:
        """Extend the leases of these running executions of ``owner``; how many."""
        if not ids:
            return 0
        return await self._set_lease(owner, lease_until, AutomationExecution.id.in_(list(ids)))

    async def release(self, *, owner: str) -> int:
        """Give up ``owner``'s running executions, so any process may recover them at once."""
        return await self._set_lease(owner, None)

    async def _set_lease(
        self, owner: str, lease_until: datetime | None, *where: ColumnElement[bool]
    ) -> int:
        statement = (
            update(AutomationExecution)
            .where(
                AutomationExecution.owner == owner,
                AutomationExecution.status == ExecutionStatus.RUNNING,
                *where,
            )
            .values(lease_until=lease_until)
        )
        async with self._db.session() as session:
            result = await session.execute(statement)
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def claim_abandoned(
        self, *, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[ExecutionRecord]:
        """Take over running executions whose lease ran out (or was released), oldest first.

        Each is claimed with its own conditional update, so two processes recovering at once
        never both get the same execution.
        """
        abandoned = or_(
            AutomationExecution.lease_until.is_(None), AutomationExecution.lease_until < now
        )
        candidates = (
            select(AutomationExecution.id)
            .where(AutomationExecution.status == ExecutionStatus.RUNNING, abandoned)
            .order_by(AutomationExecution.id)
            .limit(limit)
        )
        claimed: list[ExecutionRecord] = []
        async with self._db.session() as session:
            ids = list(await session.scalars(candidates))
        for execution_id in ids:
            async with self._db.session() as session:
                result = await session.execute(
                    update(AutomationExecution)
                    .where(
                        AutomationExecution.id == execution_id,
                        AutomationExecution.status == ExecutionStatus.RUNNING,
                        abandoned,
                    )
                    .values(owner=owner, lease_until=lease_until)
                )
                if not result.rowcount:  # type: ignore[attr-defined]
                    continue
                row = await session.get(AutomationExecution, execution_id)
                if row is not None:
                    claimed.append(_execution(row))
        return claimed

    async def chain_depth(self, request_id: str) -> int | None:
        """The deepest execution started on behalf of ``request_id``, if any."""
        async with self._db.session() as session:
            depth: int | None = await session.scalar(
                select(func.max(AutomationExecution.depth)).where(
                    AutomationExecution.request_id == request_id
                )
            )
            return depth

    async def event_request_id(self, event_id: str) -> str | None:
        """The request id an event was published under (an action passes its own on)."""
        async with self._db.session() as session:
            request_id: str | None = await session.scalar(
                select(EventRecord.request_id).where(EventRecord.id == event_id)
            )
            return request_id

    async def finished_durations(self, automation_id: str, *, sample: int) -> list[float]:
        query = (
            select(AutomationExecution.duration_ms)
            .where(
                AutomationExecution.automation_id == automation_id,
                AutomationExecution.status.in_([ExecutionStatus.COMPLETE, ExecutionStatus.ERROR]),
                AutomationExecution.duration_ms.is_not(None),
            )
            .order_by(AutomationExecution.id.desc())
            .limit(sample)
        )
        async with self._db.session() as session:
            return [float(value) for value in await session.scalars(query) if value is not None]

    async def counts(self, automation_id: str) -> dict[str, int]:
        query = (
            select(AutomationExecution.status, func.count())
            .where(AutomationExecution.automation_id == automation_id)
            .group_by(AutomationExecution.status)
        )
        async with self._db.session() as session:
            return {status: int(count) for status, count in (await session.execute(query)).all()}

    async def recent_failures(self, automation_id: str, *, limit: int) -> list[ExecutionRecord]:
        query = (
            select(AutomationExecution)
            .where(
                AutomationExecution.automation_id == automation_id,
                AutomationExecution.status == ExecutionStatus.ERROR,
            )
            .order_by(AutomationExecution.id.desc())
            .limit(limit)
        )
        async with self._db.session() as session:
            return [_execution(row) for row in await session.scalars(query)]


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """API fields as table columns: the trigger splits in two, specs become plain JSON."""
    columns = dict(fields)
    trigger = columns.pop("trigger", None)
    if trigger is not None:
        kind = "endpoint" if trigger.get("endpoint") is not None else "event"
        columns["trigger_kind"] = kind
        columns["trigger_value"] = trigger[kind]
    return columns


def _automation(row: Automation) -> AutomationRecord:
    return AutomationRecord(
        id=row.id,
        name=row.name,
        description=row.description,
        status=AutomationStatus(row.status),
        trigger={row.trigger_kind: row.trigger_value},
        filter=row.filter,
        actions=[ActionSpec.model_validate(spec) for spec in row.actions],
        managed_by=ManagedBy(row.managed_by),
        config_name=row.config_name,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def prepare(
    item: NewExecution, *, owner: str, lease_until: datetime
) -> tuple[dict[str, Any], ExecutionRecord]:
    """The row that stores a new execution (its id allocated here), and the record its runner
    starts from: a caller may store the row in a transaction of its own before launching."""
    running = item.status == ExecutionStatus.RUNNING
    if item.stored is not None and not item.steps:
        steps = list(item.stored.pending)
        plan_documents, step_documents = item.stored.plan, item.stored.steps
    else:
        steps = item.steps or _pending_steps(item.plan)
        plan_documents = [spec.model_dump(mode="json") for spec in item.plan]
        step_documents = [step.model_dump(mode="json") for step in steps]
    values: dict[str, Any] = {
        "id": new_id(item.started_at),
        "automation_id": item.automation_id,
        "status": item.status,
        "trigger": item.trigger,
        "plan": plan_documents,
        "steps": step_documents,
        "trigger_key": item.trigger_key,
        "request_id": item.request_id,
        "depth": item.depth,
        "error": item.error,
        "failed_step": None,
        "started_at": item.started_at,
        "finished_at": None if running else item.started_at,
        "duration_ms": None if running else 0.0,
        "owner": owner if running else None,
        "lease_until": lease_until if running else None,
    }
    # Built from the models the row was dumped from: validating the dump again would only
    # turn it back into them.
    record = ExecutionRecord.model_construct(
        id=values["id"],
        automation_id=item.automation_id,
        status=item.status,
        trigger=item.trigger,
        plan=list(item.plan),
        steps=steps,
        request_id=item.request_id,
        depth=item.depth,
        error=item.error,
        failed_step=None,
        started_at=item.started_at,
        finished_at=values["finished_at"],
        duration_ms=values["duration_ms"],
        owner=values["owner"],
        lease_until=values["lease_until"],
    )
    return values, record


def _pending_steps(plan: Sequence[ActionSpec]) -> list[Step]:
    # Built without validation: the names come from a validated plan, the rest are defaults.
    return [Step.model_construct(name=spec.name, action=spec.action) for spec in plan]


def _execution(row: AutomationExecution) -> ExecutionRecord:
    return ExecutionRecord(
        id=row.id,
        automation_id=row.automation_id,
        status=ExecutionStatus(row.status),
        trigger=row.trigger,
        plan=[ActionSpec.model_validate(spec) for spec in row.plan],
        steps=[Step.model_validate(step) for step in row.steps],
        request_id=row.request_id,
        depth=row.depth,
        error=row.error,
        failed_step=row.failed_step,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_ms=row.duration_ms,
        owner=row.owner,
        lease_until=row.lease_until,
    )
