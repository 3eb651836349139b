"""``notification``: a message written to hookhub's log at its level, nothing else (seed 000)."""

from __future__ import annotations

from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field

from hookhub.actions.registry import ActionCall, ActionContext, ActionRegistry

NAME = "notification"
MAX_MESSAGE_CHARS = 4000
LOGGER_NAME = "hookhub.actions.notification"


class NotificationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    level: Literal["info", "warning", "error"] = "info"


async def notification(
    params: NotificationParams, context: ActionContext, call: ActionCall
) -> dict[str, Any]:
    # A fresh logger per call: a module-level one is cached on first use, and a test (or a
    # later logging set-up) could not see it.
    log = structlog.get_logger(LOGGER_NAME)
    write = {"info": log.info, "warning": log.warning, "error": log.error}[params.level]
    write(
        "action.notification",
        message=params.message,
        actor=call.actor,
        execution_id=call.execution_id,
        request_id=call.request_id,
    )
    return {"status": "ok", "message": params.message, "level": params.level}


def register(registry: ActionRegistry) -> None:
    registry.register(NAME, notification, NotificationParams, repeatable=True)
