"""``publish_event``: publish an event as ``POST /events`` does (source ``action``).

It is stored, then reaches WebSocket subscribers of its channel (or of its type) and every
outgoing webhook whose ``event_type`` matches, through the same publisher.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hookhub.actions.registry import ActionCall, ActionContext, ActionRegistry
from hookhub.clock import isoformat_z
from hookhub.events import Channel, EventType

NAME = "publish_event"
SOURCE = "action"


class PublishEventParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: EventType
    payload: dict[str, Any] = Field(default_factory=dict)
    channel: Channel | None = None


async def publish_event(
    params: PublishEventParams, context: ActionContext, call: ActionCall
) -> dict[str, Any]:
    event = await context.publisher.publish(
        type=params.type,
        payload=params.payload,
        source=SOURCE,
        channel=params.channel,
        request_id=call.request_id,
    )
    return {
        "event_id": event.id,
        "type": event.type,
        "channel": event.channel,
        "occurred_at": isoformat_z(event.occurred_at),
    }


def register(registry: ActionRegistry) -> None:
    registry.register(NAME, publish_event, PublishEventParams)
