"""Team routing of new tickets (seed 002's "custom team assignment"), pure.

Rules come from the settings (``ticket_routing``), in order; the first rule whose conditions
all hold gives the team, else ``ticket_default_team``. Within one condition any listed value
will do: a rule ``{team = "billing", channels = ["123", "456"], keywords = ["invoice"]}`` takes
a ticket from channel 123 or 456 whose title or description has the word "invoice".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_TEAM_CHARS = 100
MAX_RULE_VALUES = 100
#: Priorities as seed 002 numbers them: 0 Low, 1 Normal, 2 High, 3 Urgent.
MIN_PRIORITY = 0
MAX_PRIORITY = 3

Team = Annotated[str, Field(min_length=1, max_length=MAX_TEAM_CHARS)]
Value = Annotated[str, Field(min_length=1, max_length=200)]


class TicketRoute(BaseModel):
    """One rule: the team, and the conditions a ticket must meet (at least one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    team: Team
    #: The source channel the ticket came from (a Discord channel id, a Telegram chat).
    channels: list[Value] = Field(default_factory=list, max_length=MAX_RULE_VALUES)
    #: The reporter's role on the platform.
    roles: list[Value] = Field(default_factory=list, max_length=MAX_RULE_VALUES)
    #: Tickets of this priority or higher.
    min_priority: int | None = Field(default=None, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    #: Whole words (or phrases), any case, in the title or the description.
    keywords: list[Value] = Field(default_factory=list, max_length=MAX_RULE_VALUES)

    @model_validator(mode="after")
    def _has_a_condition(self) -> TicketRoute:
        # A rule without conditions would swallow every ticket: that is the default team's job.
        if not (self.channels or self.roles or self.keywords) and self.min_priority is None:
            raise ValueError(
                "a routing rule needs channels, roles, min_priority or keywords "
                "(use ticket_default_team for everything else)"
            )
        return self


@dataclass(frozen=True)
class RoutingInput:
    """What routing looks at in a new ticket."""

    title: str
    description: str
    priority: int
    source_channel: str | None = None
    reporter_role: str | None = None


@lru_cache(maxsize=1024)
def _word(keyword: str) -> re.Pattern[str]:
    # Whole words only: "500" must not match "1500", nor "bill" match "billiards".
    return re.compile(rf"(?<!\w){re.escape(keyword)}(?!\w)", re.IGNORECASE)


def matches(rule: TicketRoute, ticket: RoutingInput) -> bool:
    if rule.channels and ticket.source_channel not in rule.channels:
        return False
    if rule.roles and ticket.reporter_role not in rule.roles:
        return False
    if rule.min_priority is not None and ticket.priority < rule.min_priority:
        return False
    if rule.keywords:
        text = f"{ticket.title}\n{ticket.description}"
        if not any(_word(keyword).search(text) for keyword in rule.keywords):
            return False
    return True


def route_team(rules: Sequence[TicketRoute], default_team: str, ticket: RoutingInput) -> str:
    """The team of the first rule ``ticket`` meets, else ``default_team``."""
    for rule in rules:
        if matches(rule, ticket):
            return rule.team
    return default_team
