"""The registry's contract: validation with paths, JSON results, safe failures, the audit log."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from hookhub.actions import (
    DEFAULT_REGISTRY,
    ActionCall,
    ActionContext,
    ActionError,
    ActionFailed,
    ActionRegistry,
    json_problem,
)
from hookhub.errors import ConflictError, InvalidInputError
from hookhub.services import Services
from tests.actions.support import ACTOR, CALL, EXECUTION_ID, REQUEST_ID, audit_rows, run

SECRET = "sk_live_do_not_show_me"


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=0)


class EchoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    inner: Inner | None = None


async def echo(params: EchoParams, context: ActionContext, call: ActionCall) -> Any:
    return {"text": params.text, "actor": call.actor, "execution_id": call.execution_id}


def registry_with(name: str, handler: Any, model: type[BaseModel] = EchoParams) -> ActionRegistry:
    registry = ActionRegistry()
    registry.register(name, handler, model)
    return registry


async def test_a_run_returns_the_result_and_is_audited(make_services: Any) -> None:
    services: Services = await make_services()
    registry = registry_with("echo", echo)
    result = await run(services, "echo", {"text": "hi"}, registry=registry)
    assert result == {"text": "hi", "actor": ACTOR, "execution_id": EXECUTION_ID}

    [row] = await audit_rows(services)
    assert (row.actor, row.action, row.target, row.request_id) == (
        ACTOR,
        "action.run",
        "echo",
        REQUEST_ID,
    )
    assert row.details["execution_id"] == EXECUTION_ID
    assert row.details["ok"] is True
    assert "error" not in row.details
    assert isinstance(row.details["duration_ms"], float)
    assert row.details["duration_ms"] >= 0
    assert set(row.details) == {"execution_id", "ok", "duration_ms"}


async def test_parameters_are_validated_before_the_handler_with_paths(
    make_services: Any,
) -> None:
    services: Services = await make_services()
    seen: list[Any] = []

    async def spy(params: EchoParams, context: ActionContext, call: ActionCall) -> Any:
        seen.append(params)
        return None

    registry = registry_with("echo", spy)
    with pytest.raises(ActionError) as refused:
        await run(
            services,
            "echo",
            {"text": "", "inner": {"count": -1, "extra": 1}, "other": SECRET},
            registry=registry,
        )
    assert seen == []
    assert refused.value.status_code == 422
    assert refused.value.message == "invalid parameters for action 'echo'"
    errors = {item["path"]: item["message"] for item in refused.value.errors or []}
    assert set(errors) == {"text", "inner.count", "inner.extra", "other"}
    assert "at least 1 character" in errors["text"]
    assert "greater than or equal to 0" in errors["inner.count"]
    assert errors["other"] == "Extra inputs are not permitted"
    assert SECRET not in str(refused.value.errors)

    [row] = await audit_rows(services)
    assert row.details["ok"] is False
    assert row.details["error"] == "invalid parameters for action 'echo'"
    assert SECRET not in str(row.details)


async def test_an_unknown_action_is_refused_and_audited(make_services: Any) -> None:
    services: Services = await make_services()
    with pytest.raises(ActionError, match="unknown action 'nope'"):
        await run(services, "nope", {})
    [row] = await audit_rows(services)
    assert (row.target, row.details["ok"]) == ("nope", False)


@pytest.mark.parametrize(
    "result",
    [
        {"when": datetime(2030, 1, 1, tzinfo=UTC)},
        {"values": (1, 2)},
        {"values": {1, 2}},
        {1: "int key"},
        [math.nan],
        {"deep": [{"inf": math.inf}]},
        EchoParams(text="a model"),
        b"bytes",
    ],
)
async def test_a_result_that_is_not_json_is_refused(make_services: Any, result: Any) -> None:
    services: Services = await make_services()

    async def bad(params: EchoParams, context: ActionContext, call: ActionCall) -> Any:
        return result

    with pytest.raises(ActionFailed, match="returned a result that is not JSON"):
        await run(services, "bad", {"text": "x"}, registry=registry_with("bad", bad))
    [row] = await audit_rows(services)
    assert row.details["ok"] is False
    assert "not JSON" in row.details["error"]


def test_json_problem_names_the_place() -> None:
    assert json_problem({"a": [1, 2.5, "x", True, None, {"b": []}]}) is None
    assert json_problem({"a": [1, {"b": math.nan}]}) == "result.a[1].b: nan is not a JSON number"
    assert json_problem({"a": (1,)}) == "result.a: a tuple is not JSON"
    assert json_problem({2: 1}) == "result: key 2 is not a string"
    cycle: list[Any] = []
    cycle.append(cycle)
    problem = json_problem(cycle)
    assert problem is not None
    assert "nested deeper than 64 levels" in problem


async def test_an_unexpected_exception_becomes_a_safe_failure(
    make_services: Any, json_logs: Any
) -> None:
    services: Services = await make_services()

    async def crash(params: EchoParams, context: ActionContext, call: ActionCall) -> Any:
        raise RuntimeError(f"connect to postgresql://admin:{SECRET}@db failed")

    json_logs()
    with pytest.raises(ActionFailed) as failed:
        await run(services, "crash", {"text": "x"}, registry=registry_with("crash", crash))
    assert failed.value.message == "action 'crash' failed unexpectedly (details in the log)"
    assert failed.value.status_code == 502
    assert isinstance(failed.value.__cause__, RuntimeError)
    [row] = await audit_rows(services)
    assert row.details["error"] == failed.value.message
    assert SECRET not in str(row.details)
    # The details are for operators, in the log, under the execution id.
    crashed = [line for line in json_logs() if line["event"] == "action.crashed"]
    assert crashed[0]["execution_id"] == EXECUTION_ID
    assert "RuntimeError" in crashed[0]["exception"]


async def test_a_hookhub_error_keeps_its_safe_message(make_services: Any) -> None:
    services: Services = await make_services()

    async def conflict(params: EchoParams, context: ActionContext, call: ActionCall) -> Any:
        raise ConflictError("the ticket is closed")

    async def explained(params: EchoParams, context: ActionContext, call: ActionCall) -> Any:
        raise ActionFailed("the receiver said no")

    registry = registry_with("conflict", conflict)
    registry.register("explained", explained, EchoParams)
    with pytest.raises(ActionFailed, match=r"^the ticket is closed$"):
        await run(services, "conflict", {"text": "x"}, registry=registry)
    with pytest.raises(ActionFailed, match=r"^the receiver said no$"):
        await run(services, "explained", {"text": "x"}, registry=registry)
    assert [row.details["error"] for row in await audit_rows(services)] == [
        "the ticket is closed",
        "the receiver said no",
    ]


def test_a_name_registered_twice_is_refused() -> None:
    registry = registry_with("echo", echo)
    with pytest.raises(ValueError, match="'echo' is already registered"):
        registry.register("echo", echo, EchoParams)
    assert list(registry.registered()) == ["echo"]


def test_validate_and_get_without_running() -> None:
    registry = registry_with("echo", echo)
    model = registry.validate("echo", {"text": "x"})
    assert isinstance(model, EchoParams)
    assert registry.get("echo").params_model is EchoParams
    with pytest.raises(ActionError):
        registry.get("missing")
    assert issubclass(ActionError, InvalidInputError)


def test_the_module_level_names_are_the_default_registry() -> None:
    from hookhub import actions

    assert actions.register == DEFAULT_REGISTRY.register
    assert actions.registered() == DEFAULT_REGISTRY.registered()
    assert CALL.actor == ACTOR
