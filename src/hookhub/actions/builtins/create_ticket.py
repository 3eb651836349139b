"""``create_ticket``: store a triage ticket (seed 002's "Create triage ticket" action).

Parameters as seed 002's automation fills them: ``title``, ``description``, ``team``
(routed by the settings' rules when left out or blank), ``priority`` 0-3 (Low, Normal, High,
Urgent; the label or a numeric string is taken too), the reporter (``reporter_id``,
``reporter_name``, ``reporter_role``: the seed's ``discordUserId`` and ``discordUsername``),
``source_channel`` and ``source``. The result is the stored ticket, number included; the
ticket's ``created_by`` is the caller's actor, and ``ticket.created`` is published.
"""

from __future__ import annotations

from typing import Any

from hookhub.actions.registry import ActionCall, ActionContext, ActionRegistry
from hookhub.tickets.models import TicketCreate

NAME = "create_ticket"


class CreateTicketParams(TicketCreate):
    """The fields of :class:`~hookhub.tickets.models.TicketCreate` (``extra="forbid"``)."""


async def create_ticket(
    params: CreateTicketParams, context: ActionContext, call: ActionCall
) -> dict[str, Any]:
    return await context.tickets.create(
        params.model_dump(mode="json", exclude_none=True),
        actor=call.actor,
        request_id=call.request_id,
    )


def register(registry: ActionRegistry) -> None:
    registry.register(NAME, create_ticket, CreateTicketParams)
