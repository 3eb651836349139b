"""Team routing rules (pure), and how they are written in the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hookhub.config import load_settings
from hookhub.errors import ConfigError
from hookhub.tickets.routing import RoutingInput, TicketRoute, matches, route_team

RULES = [
    TicketRoute(team="billing", channels=["BILLING_CHANNEL_ID"]),
    TicketRoute(team="vip", roles=["VIP", "Patron"]),
    TicketRoute(team="oncall", min_priority=3),
    TicketRoute(team="tech", keywords=["error 500", "login", "403"]),
    TicketRoute(team="tech-urgent", keywords=["outage"], min_priority=2),
]


def ticket(**fields: object) -> RoutingInput:
    values: dict[str, object] = {"title": "Question", "description": "", "priority": 1}
    values.update(fields)
    return RoutingInput(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "team"),
    [
        ({}, "support"),
        ({"source_channel": "BILLING_CHANNEL_ID"}, "billing"),
        ({"source_channel": "OTHER"}, "support"),
        ({"reporter_role": "Patron"}, "vip"),
        ({"reporter_role": "patron"}, "support"),  # roles are ids: exact
        ({"priority": 3}, "oncall"),
        ({"priority": 2}, "support"),
        ({"title": "LOGIN not working"}, "tech"),
        ({"description": "I get Error 500 on save"}, "tech"),
        ({"description": "error 5000"}, "support"),  # whole words only
        ({"title": "Blogin"}, "support"),
        ({"title": "Getting a 403."}, "tech"),
        ({"title": "outage", "priority": 2}, "tech-urgent"),  # both conditions of the rule
        ({"title": "outage", "priority": 1}, "support"),
        # The first match wins: billing's channel before the keyword rule.
        ({"source_channel": "BILLING_CHANNEL_ID", "title": "login"}, "billing"),
        ({"reporter_role": "VIP", "priority": 3}, "vip"),
    ],
)
def test_the_first_matching_rule_gives_the_team(fields: dict[str, object], team: str) -> None:
    assert route_team(RULES, "support", ticket(**fields)) == team


def test_no_rules_means_the_default_team() -> None:
    assert route_team([], "triage", ticket(title="login")) == "triage"


def test_a_rule_needs_a_condition() -> None:
    with pytest.raises(ValidationError, match="needs channels, roles, min_priority or keywords"):
        TicketRoute(team="all")
    assert matches(TicketRoute(team="t", min_priority=0), ticket(priority=0))


def test_rules_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hookhub.toml"
    config.write_text(
        'ticket_default_team = "support"\n'
        "[[ticket_routing]]\n"
        'team = "billing"\n'
        'channels = ["123"]\n'
        "[[ticket_routing]]\n"
        'team = "oncall"\n'
        "min_priority = 3\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HOOKHUB_CONFIG", str(config))
    settings = load_settings()
    assert settings.ticket_default_team == "support"
    assert settings.ticket_routing == [
        TicketRoute(team="billing", channels=["123"]),
        TicketRoute(team="oncall", min_priority=3),
    ]


def test_rules_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKHUB_TICKET_ROUTING", '[{"team": "vip", "roles": ["VIP"]}]')
    assert load_settings().ticket_routing == [TicketRoute(team="vip", roles=["VIP"])]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('[{"team": "all"}]', "HOOKHUB_TICKET_ROUTING.0: a routing rule needs channels"),
        ('[{"team": "t", "min_priority": 4}]', "HOOKHUB_TICKET_ROUTING.0.MIN_PRIORITY"),
        ('[{"team": "t", "keywords": ["x"], "colour": 1}]', "colour"),
    ],
)
def test_bad_rules_stop_the_start(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("HOOKHUB_TICKET_ROUTING", value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert message.lower() in refused.value.message.lower()
