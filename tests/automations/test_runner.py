"""The runner in-process, on both databases: the trigger never waits, steps run in order with
earlier results, retries wait by the injected clock, failures stop the run, history is kept."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import structlog

from hookhub.actions import ActionCall
from hookhub.automations.models import AutomationCreate
from hookhub.automations.repository import HeldUpdate
from hookhub.automations.states import ExecutionStatus, StepStatus
from hookhub.errors import StoreError
from hookhub.services import Services
from hookhub.store import writes as store_writes
from hookhub.store.batch import Batch
from tests.automations.conftest import MakeServices
from tests.automations.support import FakeSleep, ManualClock, Toolbox

ENDPOINT_ID = "01JENDPOINT000000000000000"
POLL_S = 0.01
POLLS_TO_SETTLE = 20
#: How long a background step may take to get where a test waits for it; runs take ms.
WAIT_S = 10.0


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition`` holds; fail past a generous deadline."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("timed out waiting for a background run")
        await asyncio.sleep(POLL_S)


def endpoint_trigger(body: dict[str, Any], *, slug: str = "discord-ticket") -> dict[str, Any]:
    return {
        "body": body,
        "query": {},
        "headers": {"content-type": "application/json"},
        "method": "POST",
        "endpoint": {"id": ENDPOINT_ID, "slug": slug, "name": "Discord tickets"},
        "request_id": "req-1",
        "received_at": "2030-01-02T03:04:05Z",
    }


async def create(services: Services, actions: list[dict[str, Any]], **fields: Any) -> str:
    definition: dict[str, Any] = {
        "name": "automation",
        "trigger": {"endpoint": "discord-ticket"},
        "actions": actions,
        **fields,
    }
    # Ids order by time: a second apart, the automations (and the history) order by creation.
    assert isinstance(services.clock, ManualClock)
    services.clock.advance(1)
    created = await services.automations.service.create(AutomationCreate.model_validate(definition))
    return created.id


async def trigger(
    services: Services, body: dict[str, Any], request_id: str = "req-1"
) -> str | None:
    return await services.automations.trigger_endpoint(
        endpoint_id=ENDPOINT_ID, trigger=endpoint_trigger(body), request_id=request_id
    )


async def finished(services: Services, execution_id: str) -> Any:
    await services.automations.executor.drain()
    record = await services.automations.executions.get(execution_id)
    assert record is not None
    return record


async def test_trigger_stores_the_execution_and_does_not_wait(
    make_services: MakeServices, toolbox: Toolbox
) -> None:
    services = await make_services()
    await create(services, [{"name": "wait", "action": "slow", "params": {"gate": "g"}}])

    execution_id = await trigger(services, {"title": "x"})

    assert execution_id is not None
    stored = await services.automations.executions.get(execution_id)
    assert stored is not None
    assert stored.status == ExecutionStatus.RUNNING
    assert stored.trigger["body"] == {"title": "x"}
    await until(lambda: toolbox.entered == ["g"])  # the run is parked on the gate
    toolbox.gate("g").set()
    record = await finished(services, execution_id)
    assert record.status == ExecutionStatus.COMPLETE
    assert record.steps[0].result == {"released": "g"}


async def test_a_run_leaves_the_steps_of_its_automations_other_executions_alone(
    make_services: MakeServices,
) -> None:
    # The executions of one automation start from the same pending steps (made once per
    # loaded automation): a run must change copies, never those.
    services = await make_services()
    await create(services, [{"name": "first", "action": "record", "params": {"label": "x"}}])
    planned = await services.automations.plan_endpoint(
        endpoint_id=ENDPOINT_ID, trigger=endpoint_trigger({"title": "x"}), request_id=None
    )

    execution_id = await trigger(services, {"title": "y"})
    assert execution_id is not None
    assert (await finished(services, execution_id)).steps[0].status == StepStatus.COMPLETE

    [waiting] = planned.records
    assert [(step.status, step.attempts) for step in waiting.steps] == [(StepStatus.PENDING, 0)]


async def test_steps_run_in_order_with_earlier_results_and_the_call(
    make_services: MakeServices, toolbox: Toolbox
) -> None:
    services = await make_services()
    automation_id = await create(
        services,
        [
            {"name": "first", "action": "record", "params": {"label": "{{ trigger.body.title }}"}},
            {
                "name": "second",
                "action": "record",
                "params": {
                    "label": "after {{ actions.first.result.label }}",
                    "value": "{{ trigger.body.priority }}",
                },
            },
            {
                "name": "third",
                "action": "record",
                "params": {"label": "third", "value": "{{ actions.second.result }}"},
            },
        ],
    )

    execution_id = await trigger(services, {"title": "Login broken", "priority": 2}, "req-42")
    assert execution_id is not None
    record = await finished(services, execution_id)

    assert toolbox.recorded() == [
        {"label": "Login broken", "value": None},
        {"label": "after Login broken", "value": 2},
        {"label": "third", "value": {"label": "after Login broken", "value": 2}},
    ]
    calls = {call for _name, _params, call in toolbox.calls}
    assert calls == {
        ActionCall(
            actor=f"automation:{automation_id}", request_id="req-42", execution_id=execution_id
        )
    }
    assert record.status == ExecutionStatus.COMPLETE
    assert [step.status for step in record.steps] == [StepStatus.COMPLETE] * 3
    assert [step.attempts for step in record.steps] == [1, 1, 1]
    assert record.request_id == "req-42"
    assert record.error is None


async def test_which_automations_a_trigger_starts(
    make_services: MakeServices, toolbox: Toolbox
) -> None:
    services = await make_services()
    step = [{"name": "s", "action": "record", "params": {"label": "{{ trigger.body.who }}"}}]
    by_slug = await create(services, step, name="by slug")
    by_id = await create(services, step, name="by id", trigger={"endpoint": ENDPOINT_ID})
    await create(services, step, name="inactive", status="inactive")
    await create(services, step, name="other endpoint", trigger={"endpoint": "elsewhere"})
    filtered = await create(
        services, step, name="urgent only", filter={"body.priority": {"$gte": 3}}
    )

    first = await trigger(services, {"who": "a", "priority": 1})

    await services.automations.executor.drain()
    started = {
        automation_id
        for automation_id in (by_slug, by_id, filtered)
        if (
            await services.automations.executions.list_for(
                automation_id, status=None, limit=10, offset=0
            )
        ).total
    }
    assert started == {by_slug, by_id}
    first_record = await services.automations.executions.get(first or "")
    assert first_record is not None
    assert first_record.automation_id == by_slug  # the oldest matching automation
    assert toolbox.recorded() == [{"label": "a", "value": None}] * 2

    await trigger(services, {"who": "b", "priority": 3})
    await services.automations.executor.drain()
    assert len(toolbox.recorded()) == 5


async def test_no_matching_automation_gives_none(make_services: MakeServices) -> None:
    services = await make_services()
    assert await trigger(services, {"title": "x"}) is None


async def test_a_failing_step_is_retried_with_backoff_by_the_injected_clock(
    make_services: MakeServices, toolbox: Toolbox, sleep: FakeSleep
) -> None:
    services = await make_services()
    await create(
        services,
        [
            {
                "name": "flaky",
                "action": "fail",
                "params": {"key": "k", "times": 2},
                "retries": {"max_attempts": 3, "backoff_s": 2},
            },
            {
                "name": "after",
                "action": "record",
                "params": {"label": "attempt {{ actions.flaky.result.attempt }}"},
            },
        ],
    )

    execution_id = await trigger(services, {})
    assert execution_id is not None
    record = await finished(services, execution_id)

    assert sleep.waits == [2, 4]
    assert record.status == ExecutionStatus.COMPLETE
    flaky = record.steps[0]
    assert flaky.attempts == 3
    assert flaky.status == StepStatus.COMPLETE
    assert flaky.result == {"ok": True, "attempt": 3}
    assert flaky.error is None
    assert flaky.duration_ms == 6000
    assert record.duration_ms == 6000
    assert toolbox.recorded() == [{"label": "attempt 3", "value": None}]


async def test_exhausted_retries_end_in_error_and_later_steps_never_run(
    make_services: MakeServices, toolbox: Toolbox, sleep: FakeSleep
) -> None:
    services = await make_services()
    await create(
        services,
        [
            {"name": "ok", "action": "record", "params": {"label": "before"}},
            {
                "name": "broken",
                "action": "fail",
                "params": {"key": "k", "times": 5},
                "retries": {"max_attempts": 2, "backoff_s": 0.5},
            },
            {"name": "never", "action": "record", "params": {"label": "after"}},
        ],
    )

    execution_id = await trigger(services, {})
    assert execution_id is not None
    record = await finished(services, execution_id)

    assert record.status == ExecutionStatus.ERROR
    assert record.failed_step == "broken"
    assert record.error == "step 'broken' failed: failure 2 of 5 after 2 attempts"
    assert [step.status for step in record.steps] == [
        StepStatus.COMPLETE,
        StepStatus.ERROR,
        StepStatus.SKIPPED,
    ]
    assert record.steps[1].attempts == 2
    assert record.steps[1].error == "failure 2 of 5"
    assert record.steps[2].attempts == 0
    assert sleep.waits == [0.5]
    assert toolbox.recorded() == [{"label": "before", "value": None}]
    # Every attempt, failed or not, is in the audit log by the time the execution has ended.
    page = await services.audit.list(action="action.run", limit=50, offset=0)
    runs = [entry for entry in page.items if entry.details["execution_id"] == execution_id]
    assert sorted((entry.target, entry.details["ok"]) for entry in runs) == [
        ("fail", False),
        ("fail", False),
        ("record", True),
    ]
    assert {entry.request_id for entry in runs} == {"req-1"}
    assert {entry.actor for entry in runs} == {f"automation:{record.automation_id}"}


async def test_template_and_parameter_errors_fail_at_once_without_retries(
    make_services: MakeServices, toolbox: Toolbox, sleep: FakeSleep
) -> None:
    services = await make_services()
    retries = {"max_attempts": 5, "backoff_s": 1}
    undefined = await create(
        services,
        [
            {
                "name": "t",
                "action": "record",
                "params": {"label": "{{ trigger.body.titel }}"},
                "retries": retries,
            }
        ],
        name="undefined",
    )
    escape = await create(
        services,
        [
            {
                "name": "t",
                "action": "record",
                "params": {"label": "{{ ''.__class__.__mro__ }}"},
                "retries": retries,
            }
        ],
        name="escape",
    )
    bad_type = await create(
        services,
        [
            {
                "name": "t",
                "action": "crash",
                "params": {"count": "{{ trigger.body.title }}"},
                "retries": retries,
            }
        ],
        name="bad type",
    )

    await trigger(services, {"title": "not a number"})
    await services.automations.executor.drain()

    errors = {}
    for automation_id in (undefined, escape, bad_type):
        page = await services.automations.executions.list_for(
            automation_id, status=ExecutionStatus.ERROR, limit=10, offset=0
        )
        [execution] = page.items
        record = await services.automations.executions.get(execution.id)
        assert record is not None
        assert record.steps[0].attempts == 1
        errors[automation_id] = record.steps[0].error or ""
    assert "undefined value" in errors[undefined]
    assert "'dict object' has no attribute 'titel'" in errors[undefined]
    assert "refused by the sandbox" in errors[escape]
    assert errors[bad_type].startswith("invalid parameters for action 'crash': count:")
    assert sleep.waits == []
    assert toolbox.calls == []


async def test_an_unexpected_exception_is_retried_and_its_text_kept_out_of_history(
    make_services: MakeServices, toolbox: Toolbox, sleep: FakeSleep
) -> None:
    services = await make_services()
    await create(
        services,
        [
            {
                "name": "c",
                "action": "crash",
                "params": {"count": 1},
                "retries": {"max_attempts": 2, "backoff_s": 1},
            }
        ],
    )
    execution_id = await trigger(services, {})
    assert execution_id is not None
    record = await finished(services, execution_id)
    assert record.steps[0].attempts == 2
    # The registry turns the exception into a safe message; its text stays in the log.
    assert record.steps[0].error == "action 'crash' failed unexpectedly (details in the log)"
    assert "secret-internal-detail" not in (record.error or "")
    assert len(toolbox.calls) == 2


async def test_a_step_over_its_timeout_fails(make_services: MakeServices, toolbox: Toolbox) -> None:
    # The gate is never opened: only the timeout ends the step.
    services = await make_services(automations_step_timeout_s=0.05)
    await create(services, [{"name": "stuck", "action": "slow", "params": {"gate": "never"}}])
    execution_id = await trigger(services, {})
    assert execution_id is not None
    record = await finished(services, execution_id)
    assert record.status == ExecutionStatus.ERROR
    assert record.steps[0].error == "timed out after 0.05 s"


async def test_large_triggers_and_results_are_capped_in_history_only(
    make_services: MakeServices, toolbox: Toolbox
) -> None:
    services = await make_services(
        automations_trigger_max_bytes=200, automations_result_max_bytes=100
    )
    big = "x" * 500
    await create(
        services,
        [
            {"name": "a", "action": "record", "params": {"label": "{{ trigger.body.big }}"}},
            {
                "name": "b",
                "action": "record",
                "params": {"label": "{{ actions.a.result.label | length }} chars"},
            },
        ],
    )
    execution_id = await trigger(services, {"big": big})
    assert execution_id is not None
    record = await finished(services, execution_id)
    assert record.status == ExecutionStatus.COMPLETE
    assert record.trigger["truncated"] is True
    assert record.trigger["bytes"] > 500
    assert record.steps[0].result["truncated"] is True
    assert toolbox.recorded() == [
        {"label": big, "value": None},
        {"label": "500 chars", "value": None},
    ]


async def test_concurrent_executions_are_bounded(
    make_services: MakeServices, toolbox: Toolbox
) -> None:
    services = await make_services(automations_max_concurrent=2)
    await create(
        services, [{"name": "w", "action": "slow", "params": {"gate": "{{ trigger.body.n }}"}}]
    )

    ids = [await trigger(services, {"n": str(n)}) for n in range(4)]
    await until(lambda: len(toolbox.entered) == 2)
    # The other two only wait for a slot: given time, they still do not enter.
    for _ in range(POLLS_TO_SETTLE):
        await asyncio.sleep(POLL_S)
    assert len(toolbox.entered) == 2
    assert services.automations.executor.in_flight == 4
    for n in range(4):
        toolbox.gate(str(n)).set()
    await services.automations.executor.drain()
    assert sorted(toolbox.entered) == ["0", "1", "2", "3"]
    for execution_id in ids:
        record = await services.automations.executions.get(execution_id or "")
        assert record is not None
        assert record.status == ExecutionStatus.COMPLETE


async def test_the_trigger_may_hold_http_mappings_and_datetimes(
    make_services: MakeServices, toolbox: Toolbox, clock: ManualClock
) -> None:
    from starlette.datastructures import Headers, QueryParams

    services = await make_services()
    await create(
        services,
        [
            {
                "name": "r",
                "action": "record",
                "params": {
                    "label": "{{ trigger.headers['x-team'] }} {{ trigger.query.page }}",
                    "value": "{{ trigger.received_at }}",
                },
            }
        ],
    )
    raw = endpoint_trigger({"title": "x"})
    raw.update(
        headers=Headers({"x-team": "support"}),
        query=QueryParams("page=2"),
        received_at=clock(),
    )
    execution_id = await services.automations.trigger_endpoint(
        endpoint_id=ENDPOINT_ID, trigger=raw, request_id="req-1"
    )
    assert execution_id is not None
    record = await finished(services, execution_id)
    assert record.status == ExecutionStatus.COMPLETE
    assert toolbox.recorded() == [{"label": "support 2", "value": "2030-01-02T03:04:06Z"}]
    assert record.trigger["headers"] == {"x-team": "support"}


async def test_audit_entries_are_committed_with_the_write_that_ends_their_step(
    make_services: MakeServices, toolbox: Toolbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[tuple[list[str], list[Any]]] = []
    apply_held = store_writes.apply_held

    async def seen(
        batch: Batch,
        items: Sequence[HeldUpdate],
        entries: Sequence[Any] = (),
        **options: Any,
    ) -> list[bool]:
        writes.append(([item.values.get("status", "progress") for item in items], list(entries)))
        return await apply_held(batch, items, entries, **options)

    monkeypatch.setattr(store_writes, "apply_held", seen)
    services = await make_services()
    await create(services, [{"name": "one", "action": "record", "params": {"label": "x"}}])

    execution_id = await trigger(services, {})
    assert execution_id is not None
    record = await finished(services, execution_id)

    assert record.status == ExecutionStatus.COMPLETE
    # The step's entry went out in the transaction that ended the execution, or before it:
    # never after, so a run found complete has its audit entry.
    ending = next(i for i, (statuses, _) in enumerate(writes) if "complete" in statuses)
    audited = [entry for _, entries in writes[: ending + 1] for entry in entries]
    assert [(entry.target, entry.details["execution_id"]) for entry in audited] == [
        ("record", execution_id)
    ]
    page = await services.audit.list(action="action.run", limit=50, offset=0)
    assert [entry.id for entry in page.items] == [audited[0].id]


async def test_an_audit_entry_that_cannot_be_stored_is_logged_and_the_run_completes(
    make_services: MakeServices, toolbox: Toolbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_held = store_writes.apply_held

    async def no_audit(
        batch: Batch,
        items: Sequence[HeldUpdate],
        entries: Sequence[Any] = (),
        **options: Any,
    ) -> list[bool]:
        if entries:
            raise StoreError("the database is unreachable")
        return await apply_held(batch, items, entries, **options)

    monkeypatch.setattr(store_writes, "apply_held", no_audit)
    services = await make_services()
    await create(services, [{"name": "one", "action": "record", "params": {"label": "x"}}])

    with structlog.testing.capture_logs() as logs:
        execution_id = await trigger(services, {})
        assert execution_id is not None
        record = await finished(services, execution_id)

    assert record.status == ExecutionStatus.COMPLETE
    assert toolbox.recorded() == [{"label": "x", "value": None}]
    [failed] = [entry for entry in logs if entry["event"] == "action.audit_failed"]
    assert (failed["action"], failed["details"]["execution_id"]) == ("record", execution_id)
    assert failed["error"] == "StoreError"
    page = await services.audit.list(action="action.run", limit=50, offset=0)
    assert page.items == []
