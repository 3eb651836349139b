"""What tickets look like going in and coming out (seed 002's triage ticket)."""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from hookhub.events import UtcDatetime
from hookhub.tickets.routing import MAX_TEAM_CHARS, Team
from hookhub.tickets.states import TicketStatus

MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000
MAX_REPORTER_CHARS = 200
MAX_SOURCE_CHARS = 64
#: Who created a ticket: an automation, a connector, an admin token's name.
MAX_ACTOR_CHARS = 100
DEFAULT_SOURCE = "automation"

__all__ = ["MAX_TEAM_CHARS", "Priority", "TicketCreate", "TicketOut", "TicketUpdate"]


class Priority(IntEnum):
    """Seed 002's numbering."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    URGENT = 3

    @property
    def label(self) -> str:
        return self.name.capitalize()


DEFAULT_PRIORITY = Priority.NORMAL


def _priority(value: object) -> object:
    # 2, "2" (a template's output) and "High" (the seed bot's dropdown) all mean High.
    if isinstance(value, bool):
        # pydantic would take True as 1; a yes/no is no priority.
        raise ValueError("a priority is 0-3 or Low, Normal, High, Urgent, not a boolean")
    if isinstance(value, str):
        text = value.strip()
        by_label = {p.label.lower(): p for p in Priority}
        if text.lower() in by_label:
            return by_label[text.lower()]
        if text.isdigit():
            return int(text)
    return value


def _blank_is_none(value: object) -> object:
    # A template over a field the trigger did not send renders "": that means "not given".
    if isinstance(value, str) and not value.strip():
        return None
    return value


PriorityValue = Annotated[Priority, BeforeValidator(_priority)]
Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE_CHARS)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)]
OptionalText = Annotated[
    Annotated[str, Field(max_length=MAX_REPORTER_CHARS)] | None, BeforeValidator(_blank_is_none)
]


class TicketCreate(BaseModel):
    """A new ticket; ``team`` left out (or blank) is chosen by the routing rules."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Title
    description: Description = ""
    team: Annotated[Team | None, BeforeValidator(_blank_is_none)] = None
    priority: Annotated[PriorityValue | None, BeforeValidator(_blank_is_none)] = None
    reporter_id: OptionalText = None
    reporter_name: OptionalText = None
    reporter_role: OptionalText = None
    #: Where the reporter wrote from (a Discord channel id): routing may look at it.
    source_channel: OptionalText = None
    #: Where the ticket came from (``discord``, ``automation``).
    source: str = Field(default=DEFAULT_SOURCE, min_length=1, max_length=MAX_SOURCE_CHARS)


class TicketUpdate(BaseModel):
    """``PATCH /tickets/{ref}``: the fields given change; none may be ``null``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: TicketStatus | None = None
    team: Team | None = None
    priority: PriorityValue | None = None
    title: Title | None = None
    description: Description | None = None


class TicketOut(BaseModel):
    id: str
    number: int
    title: str
    description: str
    team: str
    priority: int
    priority_label: str
    status: TicketStatus
    reporter_id: str | None
    reporter_name: str | None
    reporter_role: str | None
    source_channel: str | None
    source: str
    created_by: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
