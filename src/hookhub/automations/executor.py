"""Starting executions and running them in the background, within bounds, across restarts.

Contract:

- **Stored before answered.** :meth:`Executor.trigger_endpoint` (and the event and manual
  triggers) store one ``running`` execution per matching active automation, in one
  transaction, before returning; the runs start as background tasks and nothing here waits for
  an action.
- **Or stored by the caller.** :meth:`Executor.plan_endpoint` prepares those executions (ids
  allocated, rows built, nothing stored) so that the caller stores the rows in its own
  transaction, beside what caused them; it then calls :meth:`Executor.launch`, once they are
  committed, or never, and nothing runs.
- **Bounded.** At most ``automations_max_concurrent`` executions run at once per process; the
  others wait for a slot (their rows already say ``running``).
- **Leases.** Each running execution names the process that runs it (``owner``) and a
  ``lease_until`` that this process extends every ``lease_s / 3`` while the task lives. An
  execution whose lease ran out was left by a process that died (or stalled); any process
  takes it over at start-up and on every sweep.
- **Recovery.** A taken-over execution is *resumed* from its first step not yet complete, when
  no step was in flight: nothing it did is repeated. When a step was in flight (stored
  ``running``), it may have taken effect (a ticket created, a request sent), so it is not run
  again: the execution ends in ``error`` with "interrupted while step ... was running".
- **Stopping.** :meth:`Executor.stop` cancels the runs and releases their leases: another
  process (or this one, started again) recovers them at once, as after a crash.
- **One run per event.** Every process receives every event on the bus; a unique key per
  automation and event lets exactly one of them store (and so run) the execution.
- **Loops.** Executions carry the request id of their cause and a depth. Actions pass the
  request id on to what they publish (:class:`~hookhub.actions.ActionCall`), so an event
  caused by an execution at depth ``d`` starts executions at depth ``d + 1``; past
  ``automations_max_chain_depth`` they are stored as ``error`` without running anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import structlog

from hookhub.automations import filters
from hookhub.automations.models import Step
from hookhub.automations.repository import (
    AutomationRecord,
    AutomationRepository,
    ExecutionRecord,
    ExecutionRepository,
    NewExecution,
    prepare,
)
from hookhub.automations.runner import LeaseLost, Runner, capped, json_data
from hookhub.automations.states import ExecutionStatus, StepStatus
from hookhub.bus import EVENTS_TOPIC, Bus, Subscription
from hookhub.clock import Clock
from hookhub.errors import InvalidInputError
from hookhub.events import Event
from hookhub.outbound.matching import candidate_patterns

log = structlog.get_logger(__name__)

#: Leases are renewed this many times per lease period, so one late renewal loses nothing.
RENEWALS_PER_LEASE = 3
#: Abandoned executions taken over per query while recovering.
RECOVER_BATCH = 100
#: Running executions whose leases are renewed per statement.
RENEW_BATCH = 500
OWNER_BYTES = 8
#: An endpoint's automations are read again at most this often (other processes' changes).
ENDPOINT_CACHE_TTL_S = 1.0
#: Endpoints whose automations are kept; past it the cache starts afresh.
ENDPOINT_CACHE_SIZE = 1024


@dataclass(frozen=True)
class PlannedRuns:
    """Executions prepared for one trigger, to be stored by the caller and then launched.

    ``execution_id`` is the first one's, ``None`` when no automation matched; ``rows`` go to
    the ``automation_executions`` table as they are.
    """

    execution_id: str | None
    rows: Sequence[dict[str, Any]] = ()
    records: Sequence[ExecutionRecord] = ()
    #: The trigger as the runs see it (templates, filters).
    data: dict[str, Any] = field(default_factory=dict)


NOTHING_PLANNED = PlannedRuns(None)


def resume_refusal(record: ExecutionRecord) -> str | None:
    """Why a taken-over execution cannot be resumed, or None when it can."""
    for step in record.steps:
        if step.status == StepStatus.RUNNING:
            return (
                f"interrupted while step {step.name!r} was running; it is not run again, "
                "since it may have taken effect"
            )
    if _is_truncated(record.trigger):
        return "interrupted, and its trigger was too large to keep for a resume"
    return None


def _is_truncated(value: Mapping[str, Any]) -> bool:
    return value.get("truncated") is True and set(value) == {"truncated", "bytes"}


class Executor:
    def __init__(
        self,
        automations: AutomationRepository,
        executions: ExecutionRepository,
        runner_factory: Callable[[str], Runner],
        *,
        clock: Clock,
        max_concurrent: int,
        lease_s: float,
        max_chain_depth: int,
        trigger_max_bytes: int,
    ) -> None:
        #: This process's name on the executions it runs.
        self.owner = secrets.token_hex(OWNER_BYTES)
        self._automations = automations
        self._executions = executions
        self.runner: Runner = runner_factory(self.owner)
        self._clock = clock
        self._max_concurrent = max_concurrent
        self._lease = timedelta(seconds=lease_s)
        self._max_chain_depth = max_chain_depth
        self._trigger_max_bytes = trigger_max_bytes
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._subscription: Subscription | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._running = False
        #: Patterns of active event automations; None until (re)loaded.
        self._event_patterns: set[str] | None = None
        #: Active automations of an endpoint (by its id and slug), and when they were loaded.
        self._endpoint_automations: dict[tuple[str, ...], tuple[float, list[AutomationRecord]]]
        self._endpoint_automations = {}
        #: The one load in flight per endpoint, and how many times definitions changed.
        self._endpoint_loading: dict[tuple[str, ...], asyncio.Future[list[AutomationRecord]]]
        self._endpoint_loading = {}
        self._definitions_version = 0

    # Life cycle.

    async def start(self, bus: Bus, *, sweep: bool = True) -> None:
        """Recover what a dead process left, then listen for events and keep leases.

        ``sweep=False`` leaves out the periodic sweep (tests drive :meth:`sweep` themselves).
        """
        self._running = True
        await self.recover()
        self._subscription = await bus.subscribe(EVENTS_TOPIC, self._on_event)
        if sweep:
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="hookhub-automations")

    async def stop(self) -> None:
        self._running = False
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if tasks:
            released = await self._executions.release(owner=self.owner)
            log.info("automation.stopped", cancelled=len(tasks), released=released)

    async def drain(self) -> None:
        """Wait until every execution started so far has finished (tests, orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def wait(self, execution_id: str, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for one execution of this process to finish."""
        task = self._tasks.get(execution_id)
        if task is not None:
            await asyncio.wait({task}, timeout=timeout_s)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def definitions_changed(self) -> None:
        """An automation was created, changed or deleted here: reload what is cached."""
        self._event_patterns = None
        self._endpoint_automations.clear()
        self._endpoint_loading.clear()
        self._definitions_version += 1

    async def _for_endpoint(self, keys: list[str]) -> list[AutomationRecord]:
        """The endpoint's active automations, read at most every ENDPOINT_CACHE_TTL_S.

        A webhook otherwise pays a query for them on every request. Changes made in this
        process clear the cache at once; those of other processes show within the TTL.
        """
        key = tuple(keys)
        cached = self._endpoint_automations.get(key)
        if cached is not None and time.monotonic() - cached[0] < ENDPOINT_CACHE_TTL_S:
            return cached[1]
        # One load per endpoint at a time: under load, every webhook arriving as the entry
        # expires would otherwise query the store for it, each query delaying the next.
        loading = self._endpoint_loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load_endpoint(key))
            self._endpoint_loading[key] = loading
            loading.add_done_callback(partial(self._loaded, key))
        return await asyncio.shield(loading)

    def _loaded(self, key: tuple[str, ...], done: asyncio.Future[list[AutomationRecord]]) -> None:
        if self._endpoint_loading.get(key) is done:  # not a load from before a change
            del self._endpoint_loading[key]

    async def _load_endpoint(self, key: tuple[str, ...]) -> list[AutomationRecord]:
        version = self._definitions_version
        loaded_s = time.monotonic()
        found = await self._automations.active_for("endpoint", key)
        if version != self._definitions_version:
            return found  # changed meanwhile: answered, but not kept
        if len(self._endpoint_automations) >= ENDPOINT_CACHE_SIZE:
            self._endpoint_automations.clear()
        self._endpoint_automations[key] = (loaded_s, found)
        return found

    # Triggers.

    async def trigger_endpoint(
        self, *, endpoint_id: str, trigger: dict[str, Any], request_id: str | None
    ) -> str | None:
        """Store and start the endpoint's matching executions; the first one's id."""
        planned = await self.plan_endpoint(
            endpoint_id=endpoint_id, trigger=trigger, request_id=request_id
        )
        await self._executions.insert(planned.rows)
        self.launch(planned)
        return planned.execution_id

    async def plan_endpoint(
        self, *, endpoint_id: str, trigger: dict[str, Any], request_id: str | None
    ) -> PlannedRuns:
        """Prepare the executions of the endpoint's matching active automations; store nothing.

        Raises :class:`InvalidInputError` for a trigger that is not JSON.
        """
        data, stored = self._snapshot(trigger)
        endpoint = data.get("endpoint")
        keys = [endpoint_id]
        if isinstance(endpoint, Mapping):
            slug = endpoint.get("slug")
            if isinstance(slug, str) and slug and slug != endpoint_id:
                keys.append(slug)
        candidates = await self._for_endpoint(keys)
        matching = [a for a in candidates if filters.matches(a.filter, data)]
        if not matching:
            return NOTHING_PLANNED
        now = self._clock()
        prepared = [
            prepare(
                NewExecution(
                    automation_id=automation.id,
                    trigger=stored,
                    plan=automation.actions,
                    request_id=request_id,
                    depth=0,
                    started_at=now,
                    stored=automation.stored_plan,
                ),
                owner=self.owner,
                lease_until=now + self._lease,
            )
            for automation in matching
        ]
        return PlannedRuns(
            execution_id=prepared[0][0]["id"],
            rows=[row for row, _record in prepared],
            records=[record for _row, record in prepared],
            data=data,
        )

    def launch(self, planned: PlannedRuns) -> None:
        """Start the planned runs; their rows must be committed first."""
        for record in planned.records:
            self._launch(record, planned.data)

    async def trigger_event(self, event: Event) -> list[ExecutionRecord]:
        """Start the active automations whose event pattern and filter match ``event``."""
        patterns = candidate_patterns(event.type)
        if self._event_patterns is None:
            self._event_patterns = await self._automations.active_event_patterns()
        if self._event_patterns.isdisjoint(patterns):
            return []
        data, stored = self._snapshot({"event": event.model_dump(mode="json")})
        candidates = await self._automations.active_for("event", patterns)
        matching = [a for a in candidates if filters.matches(a.filter, data)]
        if not matching:
            return []
        cause = await self._executions.event_request_id(event.id)
        depth = 0
        if cause is not None:
            parent = await self._executions.chain_depth(cause)
            depth = 0 if parent is None else parent + 1
        request_id = cause or event.id
        key = f"event:{event.id}"
        if depth > self._max_chain_depth:
            log.warning(
                "automation.chain_too_deep",
                event_id=event.id,
                event_type=event.type,
                request_id=request_id,
                depth=depth,
            )
            return await self._store_refused(matching, stored, request_id, depth, key)
        return await self._store_and_launch(
            matching, data, stored, request_id=request_id, depth=depth, trigger_key=key
        )

    async def run_now(
        self, automation: AutomationRecord, trigger: dict[str, Any], request_id: str | None
    ) -> ExecutionRecord:
        """A manual run of one automation, whatever its status and filter."""
        data, stored = self._snapshot(trigger)
        [record] = await self._store_and_launch(
            [automation], data, stored, request_id=request_id, depth=0, trigger_key=None
        )
        return record

    async def _on_event(self, _topic: str, message: bytes) -> None:
        await self.trigger_event(Event.from_json(message))

    def _snapshot(self, trigger: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The trigger as JSON data for templates and filters, and what the history keeps."""
        try:
            data, size = json_data(dict(trigger))
        except TypeError as exc:
            raise InvalidInputError(f"the trigger is not JSON: {exc}") from None
        stored: dict[str, Any] = capped(data, size, self._trigger_max_bytes)
        return data, stored

    async def _store_and_launch(
        self,
        automations: Sequence[AutomationRecord],
        data: dict[str, Any],
        stored: dict[str, Any],
        *,
        request_id: str | None,
        depth: int,
        trigger_key: str | None,
    ) -> list[ExecutionRecord]:
        now = self._clock()
        items = [
            NewExecution(
                automation_id=automation.id,
                trigger=stored,
                plan=automation.actions,
                request_id=request_id,
                depth=depth,
                started_at=now,
                trigger_key=trigger_key,
                stored=automation.stored_plan,
            )
            for automation in automations
        ]
        records = await self._executions.add(items, owner=self.owner, lease_until=now + self._lease)
        for record in records:
            self._launch(record, data)
        return records

    async def _store_refused(
        self,
        automations: Sequence[AutomationRecord],
        stored: dict[str, Any],
        request_id: str,
        depth: int,
        trigger_key: str,
    ) -> list[ExecutionRecord]:
        reason = (
            f"not run: {depth} automations in a row were triggered by one another, over the "
            f"limit of {self._max_chain_depth} (HOOKHUB_AUTOMATIONS_MAX_CHAIN_DEPTH); a loop?"
        )
        now = self._clock()
        items = [
            NewExecution(
                automation_id=automation.id,
                trigger=stored,
                plan=automation.actions,
                request_id=request_id,
                depth=depth,
                started_at=now,
                trigger_key=trigger_key,
                status=ExecutionStatus.ERROR,
                error=reason,
                steps=[
                    Step(name=spec.name, action=spec.action, status=StepStatus.SKIPPED)
                    for spec in automation.actions
                ],
            )
            for automation in automations
        ]
        return await self._executions.add(items, owner=self.owner, lease_until=now)

    # Background runs.

    def _launch(self, record: ExecutionRecord, trigger: dict[str, Any]) -> None:
        if not self._running:
            return  # stored and leased; recovered once the lease runs out
        task = asyncio.create_task(
            self._run(record, trigger), name=f"hookhub-automation:{record.id}"
        )
        self._tasks[record.id] = task
        task.add_done_callback(lambda _task: self._tasks.pop(record.id, None))

    async def _run(self, record: ExecutionRecord, trigger: dict[str, Any]) -> None:
        async with self._slots:
            try:
                await self.runner.run(record, trigger)
            except LeaseLost:
                log.warning("automation.lease_lost", execution_id=record.id)
            except Exception:
                # Its lease is no longer renewed (the task is gone), so a sweep recovers it.
                log.exception("automation.run_failed", execution_id=record.id)

    # Leases and recovery.

    async def _sweep_loop(self) -> None:
        interval_s = self._lease.total_seconds() / RENEWALS_PER_LEASE
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("automation.sweep_failed")

    async def sweep(self) -> None:
        """Renew this process's leases, reload event patterns, recover abandoned executions."""
        await self.renew()
        self.definitions_changed()
        await self.recover()

    async def renew(self) -> int:
        ids = list(self._tasks)
        lease_until = self._clock() + self._lease
        renewed = 0
        for start in range(0, len(ids), RENEW_BATCH):
            renewed += await self._executions.renew(
                owner=self.owner, ids=ids[start : start + RENEW_BATCH], lease_until=lease_until
            )
        return renewed

    async def recover(self) -> int:
        """Take over the executions whose lease ran out; resume or fail each. How many."""
        total = 0
        while True:
            now = self._clock()
            claimed = await self._executions.claim_abandoned(
                owner=self.owner, now=now, lease_until=now + self._lease, limit=RECOVER_BATCH
            )
            for record in claimed:
                reason = resume_refusal(record)
                log.warning(
                    "automation.execution_recovered",
                    execution_id=record.id,
                    automation_id=record.automation_id,
                    resumed=reason is None,
                )
                if reason is None:
                    self._launch(record, record.trigger)
                    continue
                with contextlib.suppress(LeaseLost):
                    await self.runner.fail_interrupted(record, reason)
            total += len(claimed)
            if len(claimed) < RECOVER_BATCH:
                return total
