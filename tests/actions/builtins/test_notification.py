from __future__ import annotations

from typing import Any

import pytest

from hookhub.actions import ActionError
from tests.actions.support import ACTOR, EXECUTION_ID, audit_rows, run


@pytest.mark.parametrize("level", ["info", "warning", "error"])
async def test_the_message_is_logged_at_its_level_and_echoed(
    make_services: Any, json_logs: Any, level: str
) -> None:
    services = await make_services()
    json_logs()
    result = await run(
        services, "notification", {"message": "Server event occurred", "level": level}
    )
    assert result == {"status": "ok", "message": "Server event occurred", "level": level}
    [line] = [line for line in json_logs() if line["event"] == "action.notification"]
    assert line["level"] == level
    assert line["message"] == "Server event occurred"
    assert (line["actor"], line["execution_id"]) == (ACTOR, EXECUTION_ID)
    assert line["logger"] == "hookhub.actions.notification"


async def test_level_defaults_to_info(make_services: Any) -> None:
    services = await make_services()
    result = await run(services, "notification", {"message": "hello"})
    assert result["level"] == "info"


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "x" * 4001}, "message"),
        ({"message": "x", "level": "debug"}, "level"),
        ({"message": 5}, "message"),
    ],
)
async def test_bad_parameters_name_the_field(
    make_services: Any, params: dict[str, Any], path: str
) -> None:
    services = await make_services()
    with pytest.raises(ActionError) as refused:
        await run(services, "notification", params)
    assert [item["path"] for item in refused.value.errors or []] == [path]
    [row] = await audit_rows(services)
    assert row.details["ok"] is False
