"""The hub's WebSocket message protocol: pure, fed text and time, never touching a socket.

Inbound (client to server), one JSON object per text frame::

    {"type": "ping"}                                      -> {"type": "pong"}
    {"type": "pong"}                                      (answer to the server's ping; no reply)
    {"type": "subscribe", "channel": C, "since"?: {"offset": N, "epoch": E}, "recover"?: bool}
                                                          -> {"type": "subscribed", ...}
    {"type": "unsubscribe", "channel": C}                 -> {"type": "unsubscribed", "channel": C}
    {"event": "prijava", "user_uuid": U}  (seed 001)      -> {"status": "registered", "uuid": U}
    {"event": "odjava"}                   (seed 001)      -> {"status": "unregistered", "uuid": U}

Anything else gets ``{"type": "error", "code": ..., "message": ...}`` and the connection stays
open. Server-initiated messages are the connection greeting, ``{"type": "ping"}`` keepalives and
published messages. Close codes are listed in :class:`CloseCode`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

import orjson

from hookhub.events import CHANNEL_PATTERN, MAX_CHANNEL_CHARS

#: Inbound frames over this are refused (the connection is closed with 1009).
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024
MAX_USER_CHARS = 128
#: Seed 001 registers dashboards by UUID; any short id of the channel alphabet is accepted.
USER_PATTERN = re.compile(r"^[A-Za-z0-9_\-.@]+$")
_CHANNEL_RE = re.compile(CHANNEL_PATTERN)

CONNECTED: dict[str, Any] = {
    "type": "connection",
    "status": "connected",
    "message": "WebSocket connection established",
}
PONG: dict[str, Any] = {"type": "pong"}
PING: dict[str, Any] = {"type": "ping"}


class CloseCode(IntEnum):
    """WebSocket close codes the hub uses (4000-4999 are for applications, RFC 6455 7.4.2)."""

    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    SLOW_CONSUMER = 4008
    TOO_MANY_MESSAGES = 4029
    UNAUTHORIZED = 4401
    IDLE_TIMEOUT = 4408


CLOSE_REASONS: dict[CloseCode, str] = {
    CloseCode.GOING_AWAY: "server shutting down",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.SLOW_CONSUMER: "slow consumer",
    CloseCode.TOO_MANY_MESSAGES: "too many messages",
    CloseCode.UNAUTHORIZED: "unauthorized",
    CloseCode.IDLE_TIMEOUT: "idle timeout",
}


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    BINARY_FRAME = "binary_frame"
    BAD_REQUEST = "bad_request"
    UNKNOWN_TYPE = "unknown_type"
    FORBIDDEN = "forbidden"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    NOT_REGISTERED = "not_registered"


class ProtocolError(Exception):
    """An inbound message the hub answers with an error message (the connection stays open)."""

    def __init__(self, code: ErrorCode, message: str, *, channel: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.channel = channel

    def reply(self) -> dict[str, Any]:
        return error(self.code, self.message, channel=self.channel)


class MessageTooBig(Exception):
    """An inbound frame over the size limit: the connection is closed with 1009."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a client is in a channel's history: the last offset it saw, in an epoch."""

    offset: int
    epoch: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Pong:
    pass


@dataclass(frozen=True, slots=True)
class Subscribe:
    channel: str
    since: Position | None = None
    #: Messages carry ``channel`` and ``offset`` so the client can recover later.
    recover: bool = False


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    channel: str


@dataclass(frozen=True, slots=True)
class Register:
    """Seed 001 ``prijava``: this connection is user ``user``'s."""

    user: str


@dataclass(frozen=True, slots=True)
class Unregister:
    """Seed 001 ``odjava``."""


Command = Ping | Pong | Subscribe | Unsubscribe | Register | Unregister


def check_size(text: str, max_message_bytes: int) -> None:
    """Raise :class:`MessageTooBig` when ``text`` encodes to more than the limit."""
    # A UTF-8 character is 1 to 4 bytes: encode only when the length alone cannot decide.
    if len(text) > max_message_bytes or (
        len(text) * 4 > max_message_bytes and len(text.encode()) > max_message_bytes
    ):
        raise MessageTooBig


def parse(text: str) -> Command:
    """One inbound text frame as a command; :class:`ProtocolError` when it is not one."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError(ErrorCode.BAD_JSON, "message is not valid JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "message must be a JSON object")
    kind = message.get("type")
    if kind is None and "event" in message:
        return _seed_event(message)
    if kind == "ping":
        return Ping()
    if kind == "pong":
        return Pong()
    if kind == "subscribe":
        return Subscribe(
            channel=_channel(message),
            since=_since(message.get("since")),
            recover=_recover(message),
        )
    if kind == "unsubscribe":
        return Unsubscribe(channel=_channel(message))
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "message needs a string 'type'")
    raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {_shown(kind)}")


def _seed_event(message: dict[str, Any]) -> Command:
    event = message["event"]
    if event == "prijava":
        user = message.get("user_uuid")
        if not isinstance(user, str) or not valid_user(user):
            raise ProtocolError(
                ErrorCode.BAD_REQUEST,
                f"'user_uuid' must be 1 to {MAX_USER_CHARS} characters of letters, digits, _-.@",
            )
        return Register(user=user)
    if event == "odjava":
        return Unregister()
    shown = _shown(event) if isinstance(event, str) else "(not a string)"
    raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown event {shown}")


def _channel(message: dict[str, Any]) -> str:
    channel = message.get("channel")
    if not isinstance(channel, str) or not valid_channel(channel):
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            f"'channel' must be 1 to {MAX_CHANNEL_CHARS} characters of letters, digits, _-.:@/",
        )
    return channel


def _since(value: object) -> Position | None:
    if value is None:
        return None
    if isinstance(value, dict):
        offset, epoch = value.get("offset"), value.get("epoch")
        # bool is an int subclass; true is not an offset.
        if (
            isinstance(offset, int)
            and not isinstance(offset, bool)
            and offset >= 0
            and isinstance(epoch, str)
            and 0 < len(epoch) <= MAX_USER_CHARS
        ):
            return Position(offset=offset, epoch=epoch)
    raise ProtocolError(
        ErrorCode.BAD_REQUEST, '\'since\' must be {"offset": integer >= 0, "epoch": string}'
    )


def _recover(message: dict[str, Any]) -> bool:
    value = message.get("recover", message.get("since") is not None)
    if not isinstance(value, bool):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "'recover' must be true or false")
    return value


def _shown(text: str) -> str:
    # Echo at most a short, printable prefix of what the client sent.
    clipped = text[:40]
    return repr(clipped + ("…" if len(text) > len(clipped) else ""))


def valid_channel(channel: str) -> bool:
    return 0 < len(channel) <= MAX_CHANNEL_CHARS and _CHANNEL_RE.match(channel) is not None


def valid_user(user: str) -> bool:
    return 0 < len(user) <= MAX_USER_CHARS and USER_PATTERN.match(user) is not None


def user_channel(user: str) -> str:
    """The channel whose messages reach every connection of ``user`` (seed 001)."""
    return f"user:{user}"


# Replies.


def error(code: ErrorCode, message: str, *, channel: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"type": "error", "code": code.value, "message": message}
    if channel is not None:
        reply["channel"] = channel
    return reply


def subscribed(
    channel: str, position: Position | None, *, recovered: bool | None = None
) -> dict[str, Any]:
    """The subscribe ack: where the channel's history stands, and whether recovery worked."""
    reply: dict[str, Any] = {"type": "subscribed", "channel": channel}
    if position is not None:
        reply["offset"] = position.offset
        reply["epoch"] = position.epoch
    if recovered is not None:
        reply["recovered"] = recovered
    return reply


def unsubscribed(channel: str) -> dict[str, Any]:
    return {"type": "unsubscribed", "channel": channel}


def registered(user: str) -> dict[str, Any]:
    return {"status": "registered", "uuid": user}


def unregistered(user: str) -> dict[str, Any]:
    return {"status": "unregistered", "uuid": user}


def positioned(message: dict[str, Any], channel: str, offset: int | None) -> dict[str, Any]:
    """A published message as a recovering client gets it: with its channel and offset."""
    if offset is None:
        return {**message, "channel": channel}
    return {**message, "channel": channel, "offset": offset}


class InboundBudget:
    """A token bucket over inbound messages: ``rate_per_s`` sustained, ``burst`` at once.

    Pure: the caller passes the monotonic time. A client over budget is closed (4029), so a
    flood costs the server one refusal, not one reply per message.
    """

    def __init__(self, rate_per_s: float, burst: int, now: float) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self._rate_per_s = rate_per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = now

    def take(self, now: float) -> bool:
        """Spend one token; False when none is left."""
        elapsed = max(0.0, now - self._at)
        self._at = now
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate_per_s)
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
