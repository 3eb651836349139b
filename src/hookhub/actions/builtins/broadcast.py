"""``broadcast``: send a message, as it is, to the WebSocket clients of one channel (seed 003).

The same path as ``POST /api/internal/broadcast``: every node's subscribers of the channel
(the broadcast channel by default) receive ``message`` exactly, and it is kept in the
channel's history for recovery.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from hookhub.actions.registry import ActionCall, ActionContext, ActionRegistry
from hookhub.events import EVENT_TYPE_PATTERN, MAX_TYPE_CHARS, Channel

NAME = "broadcast"


class BroadcastParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Default: ``HOOKHUB_REALTIME_BROADCAST_CHANNEL``.
    channel: Channel | None = None
    #: ``{"type": ..., ...}``: what every subscriber receives.
    message: dict[str, Any]

    @field_validator("message")
    @classmethod
    def _typed(cls, message: dict[str, Any]) -> dict[str, Any]:
        kind = message.get("type")
        if not isinstance(kind, str) or not kind:
            raise ValueError('must have a "type" string')
        if len(kind) > MAX_TYPE_CHARS:
            raise ValueError(f'"type" must be at most {MAX_TYPE_CHARS} characters')
        if not re.fullmatch(EVENT_TYPE_PATTERN, kind):
            raise ValueError('"type" must be dotted letters, digits, "_" and "-"')
        return message


async def broadcast(
    params: BroadcastParams, context: ActionContext, call: ActionCall
) -> dict[str, Any]:
    channel = params.channel or context.settings.realtime_broadcast_channel
    message_id = await context.realtime.broadcast(params.message, channel=channel)
    return {"message_id": message_id, "channel": channel, "type": params.message["type"]}


def register(registry: ActionRegistry) -> None:
    registry.register(NAME, broadcast, BroadcastParams)
