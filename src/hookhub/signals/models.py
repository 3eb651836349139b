"""The JSON shapes of the signal webhook's API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hookhub.events import UtcDatetime
from hookhub.realtime.protocol import MAX_USER_CHARS, USER_PATTERN

#: Owners are hub users: the signal event goes to the channel ``user:<owner>``.
OWNER_PATTERN = USER_PATTERN.pattern
SIGNAL_RECEIVED = "Signal received"


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"owner": "u-42"}]})

    owner: str = Field(
        min_length=1,
        max_length=MAX_USER_CHARS,
        pattern=OWNER_PATTERN,
        description="The user the code belongs to (as in the hub's `prijava`)",
    )


class CodeOut(BaseModel):
    owner: str
    code: str
    created_at: UtcDatetime


class ConnectionInfo(BaseModel):
    """What the seed's bot sent its user: the connection string with their code, and where to."""

    owner: str
    code: str
    connection_string: str
    webhook_url: str


class Revoked(BaseModel):
    success: bool = True
    message: str = "Signal code revoked"


class SignalAccepted(BaseModel):
    success: bool = True
    message: str = SIGNAL_RECEIVED
    event_id: str
    received_at: UtcDatetime
