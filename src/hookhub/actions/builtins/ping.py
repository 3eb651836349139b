"""``ping``: a health check that touches nothing (seed 000): ``{"status": "ok", "pong": true}``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from hookhub.actions.registry import ActionCall, ActionContext, ActionRegistry
from hookhub.clock import isoformat_z

NAME = "ping"


class PingParams(BaseModel):
    """No parameters."""

    model_config = ConfigDict(extra="forbid")


async def ping(params: PingParams, context: ActionContext, call: ActionCall) -> dict[str, Any]:
    return {"status": "ok", "pong": True, "timestamp": isoformat_z(context.clock())}


def register(registry: ActionRegistry) -> None:
    registry.register(NAME, ping, PingParams, repeatable=True)
