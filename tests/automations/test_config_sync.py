"""Automations defined in the config file: created at start-up, updated and removed with the
file, read-only over the API, and refused at start-up when they name an unknown action."""

from __future__ import annotations

from typing import Any

import pytest

from hookhub.automations.models import AutomationUpdate, ManagedBy
from hookhub.config import Settings
from hookhub.errors import ConfigError, ConflictError
from hookhub.services import Services
from tests.automations.conftest import MakeServices
from tests.automations.test_runner import create, trigger

DEFINED: dict[str, Any] = {
    "name": "Discord Ticket Integration",
    "trigger": {"endpoint": "discord-ticket"},
    "actions": [
        {"name": "triage", "action": "record", "params": {"label": "{{ trigger.body.title }}"}}
    ],
}


async def config_automations(services: Services) -> list[Any]:
    page = await services.automations.service.list(status=None, limit=100, offset=0)
    return [item for item in page.items if item.managed_by == ManagedBy.CONFIG]


async def test_config_automations_follow_the_file(make_services: MakeServices) -> None:
    first = await make_services(automations=[DEFINED])
    api_made = await create(first, DEFINED["actions"], name=DEFINED["name"])
    [defined] = await config_automations(first)
    assert defined.name == DEFINED["name"]
    assert await trigger(first, {"title": "x"}) is not None
    await first.automations.executor.drain()
    with pytest.raises(ConflictError, match="config file"):
        await first.automations.service.update(defined.id, AutomationUpdate(status="inactive"))
    with pytest.raises(ConflictError):
        await first.automations.service.delete(defined.id)
    await first.stop()

    # Same name, changed definition: the same automation, updated (its history kept).
    changed = {**DEFINED, "status": "inactive", "description": "now off"}
    second = await make_services(automations=[changed])
    [updated] = await config_automations(second)
    assert updated.id == defined.id
    assert (updated.status, updated.description) == ("inactive", "now off")
    history = await second.automations.service.executions(
        defined.id, status=None, limit=10, offset=0
    )
    assert history.total == 1
    await second.stop()

    # Gone from the file: gone from the store; automations made over the API stay.
    third = await make_services(automations=[])
    assert await config_automations(third) == []
    assert (await third.automations.service.get(api_made)).managed_by == ManagedBy.API


async def test_an_unchanged_definition_is_not_rewritten(make_services: MakeServices) -> None:
    first = await make_services(automations=[DEFINED])
    [before] = await config_automations(first)
    await first.stop()
    first.clock.advance(60)  # type: ignore[attr-defined]
    second = await make_services(automations=[DEFINED])
    [after] = await config_automations(second)
    assert after.updated_at == before.updated_at


async def test_an_unknown_action_in_the_config_stops_start_up(make_services: MakeServices) -> None:
    broken = {**DEFINED, "actions": [{"name": "a", "action": "nope", "params": {"x": "{{ y"}}]}
    services = await make_services(automations=[broken], start=False)
    with pytest.raises(ConfigError) as raised:
        await services.start(dispatch=False)
    message = raised.value.message
    assert message.startswith("HOOKHUB_AUTOMATIONS: automation 'Discord Ticket Integration': ")
    assert "actions.0.action: unknown action 'nope'" in message
    assert "actions.0.params.x:" in message
    await services.bus.close()


def test_config_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="used twice"):
        Settings(automations=[DEFINED, DEFINED])


def test_config_check_shows_names_only() -> None:
    secret_params = {
        **DEFINED,
        "actions": [{"name": "a", "action": "x", "params": {"token": "s3cr3t"}}],
    }
    shown = Settings(automations=[secret_params]).effective()["automations"]
    assert shown == "'Discord Ticket Integration'"
    assert Settings().effective()["automations"] == "(none)"


def test_toml_automations(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hookhub.toml"
    config.write_text(
        """
[[automations]]
name = "Discord Ticket Integration"
trigger = { endpoint = "discord-ticket" }
filter = { "body.priority" = { "$gte" = 2 } }

[[automations.actions]]
name = "triage"
action = "create_ticket"
params = { title = "{{ trigger.body.title }}", priority = "{{ trigger.body.priority }}" }
retries = { max_attempts = 3, backoff_s = 2 }
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("HOOKHUB_CONFIG", str(config))
    from hookhub.config import load_settings

    [automation] = load_settings().automations
    assert automation.trigger.endpoint == "discord-ticket"
    assert automation.filter == {"body.priority": {"$gte": 2}}
    assert automation.actions[0].params["title"] == "{{ trigger.body.title }}"
    assert automation.actions[0].retries is not None
    assert automation.actions[0].retries.max_attempts == 3
