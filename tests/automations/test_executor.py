"""Executions across process lifetimes and events: recovery after a crash, stop, leases, event
triggers on the in-memory bus, the chain-depth guard, and one run per event."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hookhub.automations.models import (
    ActionSpec,
    AutomationStatus,
    ManagedBy,
    ManualRun,
    RetryPolicy,
    Step,
)
from hookhub.automations.repository import (
    AutomationRecord,
    HeldUpdate,
    NewExecution,
    finish_update,
    prepare,
    progress_update,
)
from hookhub.automations.runner import LeaseLost
from hookhub.automations.states import ExecutionStatus, StepStatus
from hookhub.events import Event
from hookhub.services import Services
from hookhub.store import writes as store_writes
from hookhub.store.batch import Batch
from tests.automations.conftest import MakeServices
from tests.automations.support import ManualClock, Toolbox
from tests.automations.test_runner import (
    ENDPOINT_ID,
    create,
    endpoint_trigger,
    trigger,
    until,
)

TWO_STEPS = [
    {"name": "first", "action": "record", "params": {"label": "{{ trigger.body.title }}"}},
    {
        "name": "second",
        "action": "record",
        "params": {"label": "after {{ actions.first.result.label }}"},
    },
]


async def left_running(
    services: Services,
    automation_id: str,
    steps: list[Step],
    *,
    clock: ManualClock,
    lease_s: float = -1,
    owner: str = "dead-process",
) -> str:
    """Write what a process that died mid-run leaves: a running execution it still holds."""
    automation = await services.automations.automations.get(automation_id)
    assert automation is not None
    [record] = await services.automations.executions.add(
        [
            NewExecution(
                automation_id=automation_id,
                trigger=endpoint_trigger({"title": "Login broken"}),
                plan=automation.actions,
                request_id="req-crashed",
                depth=0,
                started_at=clock() - timedelta(seconds=30),
                steps=steps,
            )
        ],
        owner=owner,
        lease_until=clock() + timedelta(seconds=lease_s),
    )
    return record.id


async def test_an_execution_left_between_steps_is_resumed_at_start(
    make_services: MakeServices, toolbox: Toolbox, clock: ManualClock
) -> None:
    first = await make_services()
    automation_id = await create(first, TWO_STEPS)
    done = Step(
        name="first",
        action="record",
        status=StepStatus.COMPLETE,
        attempts=1,
        started_at=clock(),
        finished_at=clock(),
        duration_ms=0,
        result={"label": "Login broken", "value": None},
    )
    execution_id = await left_running(
        first, automation_id, [done, Step(name="second", action="record")], clock=clock
    )
    await first.stop()

    second = await make_services()
    await second.automations.executor.drain()

    record = await second.automations.executions.get(execution_id)
    assert record is not None
    assert record.status == ExecutionStatus.COMPLETE
    # The finished step is not repeated; the next one sees its stored result.
    assert toolbox.recorded() == [{"label": "after Login broken", "value": None}]
    assert record.steps[1].result == {"label": "after Login broken", "value": None}
    assert record.duration_ms == 30_000
    assert {call.request_id for _name, _params, call in toolbox.calls} == {"req-crashed"}


async def test_an_execution_left_mid_step_is_failed_not_repeated(
    make_services: MakeServices, toolbox: Toolbox, clock: ManualClock
) -> None:
    services = await make_services()
    automation_id = await create(services, TWO_STEPS)
    in_flight = Step(
        name="first",
        action="record",
        status=StepStatus.RUNNING,
        attempts=1,
        started_at=clock() - timedelta(seconds=10),
    )
    execution_id = await left_running(
        services, automation_id, [in_flight, Step(name="second", action="record")], clock=clock
    )
    await services.stop()

    restarted = await make_services()
    await restarted.automations.executor.drain()

    record = await restarted.automations.executions.get(execution_id)
    assert record is not None
    assert record.status == ExecutionStatus.ERROR
    assert record.error is not None
    assert record.error.startswith("interrupted while step 'first' was running")
    assert record.failed_step == "first"
    assert [step.status for step in record.steps] == [StepStatus.ERROR, StepStatus.SKIPPED]
    assert record.steps[0].error == "interrupted"
    assert record.steps[0].duration_ms == 10_000
    assert toolbox.calls == []


async def test_a_live_lease_is_left_alone_until_it_runs_out(
    make_services: MakeServices, toolbox: Toolbox, clock: ManualClock
) -> None:
    services = await make_services()
    automation_id = await create(services, TWO_STEPS)
    execution_id = await left_running(
        services,
        automation_id,
        [Step(name=n, action="record") for n in ("first", "second")],
        clock=clock,
        lease_s=60,
    )

    await services.automations.executor.sweep()
    assert services.automations.executor.in_flight == 0
    record = await services.automations.executions.get(execution_id)
    assert record is not None
    assert record.owner == "dead-process"

    clock.advance(61)
    await services.automations.executor.sweep()
    await services.automations.executor.drain()
    record = await services.automations.executions.get(execution_id)
    assert record is not None
    assert record.status == ExecutionStatus.COMPLETE
    assert len(toolbox.recorded()) == 2


async def test_stop_cancels_runs_and_leaves_them_for_recovery(
    make_services: MakeServices, toolbox: Toolbox
) -> None:
    services = await make_services()
    await create(
        services,
        [
            {"name": "wait", "action": "slow", "params": {"gate": "g"}},
            {"name": "then", "action": "record", "params": {"label": "then"}},
        ],
    )
    execution_id = await trigger(services, {})
    assert execution_id is not None
    await until(lambda: toolbox.entered == ["g"])

    await services.stop()

    record = await services.automations.executions.get(execution_id)
    assert record is not None
    assert record.status == ExecutionStatus.RUNNING
    assert record.lease_until is None  # released: any process may take it at once
    assert record.steps[0].status == StepStatus.RUNNING

    restarted = await make_services()
    await restarted.automations.executor.drain()
    record = await restarted.automations.executions.get(execution_id)
    assert record is not None
    assert record.status == ExecutionStatus.ERROR
    assert record.failed_step == "wait"
    assert toolbox.recorded() == []


async def test_a_repeatable_step_is_not_marked_running_and_runs_again_after_a_stop(
    make_services: MakeServices, toolbox: Toolbox
) -> None:
    services = await make_services()
    steps = [{"name": "then", "action": "record", "params": {"label": "then"}}]
    await create(
        services, [{"name": "wait", "action": "slow_repeatable", "params": {"gate": "r"}}, *steps]
    )
    repeatable_id = await trigger(services, {})
    assert repeatable_id is not None
    await until(lambda: toolbox.entered == ["r"])

    record = await services.automations.executions.get(repeatable_id)
    assert record is not None
    # No write before the attempt: the history shows the step as not started.
    assert record.steps[0].status == StepStatus.PENDING
    await services.stop()

    toolbox.gate("r").set()
    restarted = await make_services()
    await restarted.automations.executor.drain()
    record = await restarted.automations.executions.get(repeatable_id)
    assert record is not None
    # Resumed, where a step that is not repeatable ends the execution as interrupted (above).
    assert record.status == ExecutionStatus.COMPLETE
    assert toolbox.entered == ["r", "r"]
    assert record.steps[0].attempts == 1
    assert toolbox.recorded() == [{"label": "then", "value": None}]


async def test_a_write_after_losing_the_lease_is_refused(
    make_services: MakeServices, clock: ManualClock
) -> None:
    services = await make_services()
    automation_id = await create(services, TWO_STEPS)
    execution_id = await left_running(
        services,
        automation_id,
        [Step(name=n, action="record") for n in ("first", "second")],
        clock=clock,
        lease_s=60,
    )
    executions = services.automations.executions
    assert not await executions.save_steps(execution_id, owner="someone-else", steps=[])
    assert await executions.save_steps(
        execution_id,
        owner="dead-process",
        steps=[Step(name=n, action="record") for n in ("first", "second")],
    )


async def test_runs_share_commits_and_a_lost_lease_stops_only_its_own_run(
    make_services: MakeServices,
    toolbox: Toolbox,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches: list[int] = []
    apply_held = store_writes.apply_held

    async def counted(
        batch: Batch, items: Sequence[HeldUpdate], *args: Any, **options: Any
    ) -> list[bool]:
        if items:
            batches.append(len(items))
        return await apply_held(batch, items, *args, **options)

    monkeypatch.setattr(store_writes, "apply_held", counted)
    services = await make_services()
    automation_id = await create(services, TWO_STEPS)
    executor = services.automations.executor
    steps = [Step(name=n, action="record") for n in ("first", "second")]
    held, lost = [
        await left_running(services, automation_id, steps, clock=clock, lease_s=60, owner=owner)
        for owner in (executor.owner, "another-process")
    ]
    executions = services.automations.executions
    records = [await executions.get(execution_id) for execution_id in (held, lost)]

    outcomes = await asyncio.gather(
        *(executor.runner.run(record, record.trigger) for record in records if record),
        return_exceptions=True,
    )

    assert outcomes[0] == ExecutionStatus.COMPLETE
    assert isinstance(outcomes[1], LeaseLost)
    assert 2 in batches  # both runs' first writes went in one transaction
    assert len(toolbox.recorded()) == 2  # the lost run ran no action
    untouched = await executions.get(lost)
    assert untouched is not None
    assert (untouched.owner, untouched.status) == ("another-process", ExecutionStatus.RUNNING)
    assert [step.status for step in untouched.steps] == [StepStatus.PENDING] * 2


async def test_a_batch_of_writes_applies_each_only_where_its_owner_holds_the_execution(
    make_services: MakeServices, clock: ManualClock
) -> None:
    services = await make_services()
    automation_id = await create(services, TWO_STEPS)
    pending = [Step(name=n, action="record") for n in ("first", "second")]
    ours, theirs, finished = [
        await left_running(services, automation_id, pending, clock=clock, lease_s=60, owner=o)
        for o in ("this-process", "another-process", "this-process")
    ]
    executions = services.automations.executions
    started = [step.model_copy(update={"status": StepStatus.RUNNING}) for step in pending]
    done = [step.model_copy(update={"status": StepStatus.COMPLETE}) for step in pending]

    applied = await executions.update_held(
        [
            progress_update(ours, owner="this-process", steps=started),
            progress_update(theirs, owner="this-process", steps=started),
            finish_update(
                finished,
                owner="this-process",
                status=ExecutionStatus.COMPLETE,
                steps=done,
                finished_at=clock(),
                duration_ms=12.5,
                error=None,
                failed_step=None,
            ),
            progress_update("no-such-execution", owner="this-process", steps=started),
        ]
    )

    assert applied == [True, False, True, False]
    written, untouched, ended = [await executions.get(i) for i in (ours, theirs, finished)]
    assert written is not None and untouched is not None and ended is not None
    assert [step.status for step in written.steps] == [StepStatus.RUNNING] * 2
    assert [step.status for step in untouched.steps] == [StepStatus.PENDING] * 2
    assert (untouched.owner, untouched.status) == ("another-process", ExecutionStatus.RUNNING)
    assert (ended.status, ended.owner, ended.duration_ms) == (ExecutionStatus.COMPLETE, None, 12.5)
    # A write to an execution that has ended is refused, in a batch as alone.
    again = progress_update(finished, owner="this-process", steps=started)
    assert await executions.update_held([again, progress_update(ours, owner="x", steps=done)]) == [
        False,
        False,
    ]


async def test_two_writes_to_one_execution_in_a_batch_apply_in_order(
    make_services: MakeServices, clock: ManualClock
) -> None:
    services = await make_services()
    automation_id = await create(services, TWO_STEPS)
    pending = [Step(name=n, action="record") for n in ("first", "second")]
    execution_id = await left_running(
        services, automation_id, pending, clock=clock, lease_s=60, owner="this-process"
    )
    executions = services.automations.executions
    done = [step.model_copy(update={"status": StepStatus.COMPLETE}) for step in pending]
    ended = finish_update(
        execution_id,
        owner="this-process",
        status=ExecutionStatus.COMPLETE,
        steps=done,
        finished_at=clock(),
        duration_ms=3.0,
        error=None,
        failed_step=None,
    )
    late = progress_update(execution_id, owner="this-process", steps=pending)

    assert await executions.update_held([ended, late]) == [True, False]
    record = await executions.get(execution_id)
    assert record is not None
    assert record.status == ExecutionStatus.COMPLETE
    assert [step.status for step in record.steps] == [StepStatus.COMPLETE] * 2


async def test_concurrent_webhooks_load_their_endpoints_automations_once(
    make_services: MakeServices,
) -> None:
    services = await make_services()
    await create(services, TWO_STEPS)
    automations = services.automations.automations
    loads: list[Sequence[str]] = []
    active_for = automations.active_for

    async def counted(kind: str, values: Sequence[str]) -> list[AutomationRecord]:
        loads.append(values)
        return await active_for(kind, values)

    automations.active_for = counted  # type: ignore[method-assign]
    executor = services.automations.executor
    planned = await asyncio.gather(
        *(
            executor.plan_endpoint(
                endpoint_id=ENDPOINT_ID, trigger=endpoint_trigger({"n": n}), request_id=None
            )
            for n in range(5)
        )
    )
    assert len(loads) == 1
    assert all(len(plan.rows) == 1 for plan in planned)


EVENT_STEPS = [
    {
        "name": "note",
        "action": "record",
        "params": {"label": "{{ trigger.event.type }}", "value": "{{ trigger.event.payload.n }}"},
    }
]


async def publish(services: Services, type: str, payload: dict[str, Any]) -> Event:
    return await services.publisher.publish(type=type, payload=payload, source="test")


async def executions_of(services: Services, automation_id: str) -> list[Any]:
    page = await services.automations.executions.list_for(
        automation_id, status=None, limit=100, offset=0
    )
    return page.items


async def test_event_triggers_run_on_matching_types_and_filters(
    make_services: MakeServices, toolbox: Toolbox
) -> None:
    services = await make_services()
    exact = await create(services, EVENT_STEPS, name="exact", trigger={"event": "order.paid"})
    prefix = await create(
        services,
        EVENT_STEPS,
        name="prefix, big only",
        trigger={"event": "order.*"},
        filter={"event.payload.n": {"$gt": 10}},
    )
    anything = await create(services, EVENT_STEPS, name="any", trigger={"event": "*"})

    paid = await publish(services, "order.paid", {"n": 5})
    await publish(services, "order.shipped", {"n": 50})
    await publish(services, "user.created", {"n": 1})
    await until(lambda: len(toolbox.recorded()) == 5)
    await services.automations.executor.drain()

    assert len(await executions_of(services, exact)) == 1
    assert len(await executions_of(services, prefix)) == 1
    assert len(await executions_of(services, anything)) == 3
    [execution] = await executions_of(services, exact)
    record = await services.automations.executions.get(execution.id)
    assert record is not None
    assert record.trigger["event"]["id"] == paid.id
    assert record.trigger["event"]["payload"] == {"n": 5}
    assert record.trigger["event"]["occurred_at"].endswith("Z")
    assert record.depth == 0
    assert record.request_id == paid.id  # no request behind it: the event starts the chain
    assert sorted((p["label"], p["value"]) for p in toolbox.recorded()) == [
        ("order.paid", 5),
        ("order.paid", 5),
        ("order.shipped", 50),
        ("order.shipped", 50),
        ("user.created", 1),
    ]


async def test_an_automation_that_triggers_itself_stops_at_the_chain_limit(
    make_services: MakeServices, toolbox: Toolbox
) -> None:
    services = await make_services(automations_max_chain_depth=3)
    looping = await create(
        services,
        [{"name": "again", "action": "publish", "params": {"type": "loop.ping", "payload": {}}}],
        trigger={"event": "loop.*"},
    )

    await services.publisher.publish(
        type="loop.ping", payload={}, source="test", request_id="req-origin"
    )

    async def refused() -> bool:
        return any(
            e.status == ExecutionStatus.ERROR for e in await executions_of(services, looping)
        )

    deadline = 200
    while not await refused():
        deadline -= 1
        assert deadline, "the loop was never stopped"
        await until(lambda: True)
        await services.automations.executor.drain()
    await services.automations.executor.drain()

    executions = sorted(await executions_of(services, looping), key=lambda e: e.depth)
    assert [(e.depth, e.status) for e in executions] == [
        (0, ExecutionStatus.COMPLETE),
        (1, ExecutionStatus.COMPLETE),
        (2, ExecutionStatus.COMPLETE),
        (3, ExecutionStatus.COMPLETE),
        (4, ExecutionStatus.ERROR),
    ]
    assert {e.request_id for e in executions} == {"req-origin"}
    assert "HOOKHUB_AUTOMATIONS_MAX_CHAIN_DEPTH" in (executions[-1].error or "")
    assert len(toolbox.calls) == 4


async def test_each_event_runs_once_whichever_processes_receive_it(
    make_services: MakeServices, toolbox: Toolbox, clock: ManualClock
) -> None:
    one = await make_services()
    other = await make_services()
    automation_id = await create(one, EVENT_STEPS, trigger={"event": "order.paid"})
    # Both processes receive the event (as with Redis); only one stores an execution.
    event = Event.create(type="order.paid", payload={"n": 1}, source="test", now=clock())

    started = [
        *await one.automations.executor.trigger_event(event),
        *await other.automations.executor.trigger_event(event),
    ]
    await one.automations.executor.drain()
    await other.automations.executor.drain()

    assert len(started) == 1
    assert len(await executions_of(one, automation_id)) == 1
    assert len(toolbox.recorded()) == 1


async def test_manual_runs_ignore_status_and_filter_unless_asked(
    make_services: MakeServices, toolbox: Toolbox
) -> None:
    services = await make_services()
    automation_id = await create(
        services, TWO_STEPS, status="inactive", filter={"body.title": "only this"}
    )
    service = services.automations.service

    skipped = await service.run(
        automation_id, ManualRun(body={"title": "x"}, apply_filter=True), request_id="r"
    )
    assert skipped.matched is False
    assert skipped.execution_id is None

    result = await service.run(
        automation_id, ManualRun(body={"title": "x"}, wait=True), request_id="r"
    )
    assert result.execution is not None
    assert result.execution.status == ExecutionStatus.COMPLETE
    assert result.execution.trigger["method"] == "MANUAL"
    assert toolbox.recorded()[-1] == {"label": "after x", "value": None}


def test_plan_specs_round_trip() -> None:
    spec = ActionSpec(name="a", action="record", params={"x": None})
    assert ActionSpec.model_validate(spec.model_dump(mode="json")) == spec


def test_a_plan_prepared_from_the_automations_stored_documents_is_the_one_it_would_build() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    automation = AutomationRecord(
        id="a1",
        name="two steps",
        description=None,
        status=AutomationStatus.ACTIVE,
        trigger={"endpoint": "e"},
        filter=None,
        actions=[
            ActionSpec(name="first", action="record", params={"label": "{{ trigger.x }}"}),
            ActionSpec(name="second", action="ping", retries=RetryPolicy(max_attempts=3)),
        ],
        managed_by=ManagedBy.API,
        created_at=now,
        updated_at=now,
    )
    item = NewExecution(
        automation_id=automation.id,
        trigger={"x": 1},
        plan=automation.actions,
        request_id=None,
        depth=0,
        started_at=now,
    )
    lease_until = now + timedelta(minutes=1)

    built, built_record = prepare(item, owner="me", lease_until=lease_until)
    stored, stored_record = prepare(
        dataclasses.replace(item, stored=automation.stored_plan),
        owner="me",
        lease_until=lease_until,
    )

    assert {**stored, "id": None} == {**built, "id": None}
    assert stored_record.steps == built_record.steps
    assert [step["status"] for step in stored["steps"]] == ["pending", "pending"]
    assert automation.stored_plan is automation.stored_plan  # made once per loaded automation
