"""A channel's subscribers on one process, and a publication encoded once for all of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hookhub.clock import isoformat_z
from hookhub.events import Event
from hookhub.realtime import protocol
from hookhub.realtime.connection import Connection, Outgoing
from hookhub.realtime.protocol import Position


@dataclass
class ChannelState:
    """A channel's subscribers on this process, by the form in which they get messages."""

    #: As published (seed shapes).
    plain: set[Connection] = field(default_factory=set)
    #: With ``channel`` and ``offset`` added, for clients that recover.
    positioned: set[Connection] = field(default_factory=set)
    #: Subscribing right now: what arrives meanwhile waits until history has been sent.
    pending: dict[Connection, list[Publication]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.plain) + len(self.positioned) + len(self.pending)

    def __contains__(self, connection: object) -> bool:
        return (
            connection in self.plain or connection in self.positioned or connection in self.pending
        )


@dataclass
class Publication:
    """One message on its way to a channel's subscribers, with its place in the history.

    The plain form is encoded once; the positioned form (with ``channel`` and ``offset``) only
    if some subscriber recovers, and then once too.
    """

    channel: str
    message: dict[str, Any]
    plain: Outgoing
    position: Position | None
    _positioned: Outgoing | None = None

    @property
    def offset(self) -> int | None:
        return self.position.offset if self.position is not None else None

    def positioned(self) -> Outgoing:
        if self._positioned is None:
            self._positioned = Outgoing.of(
                protocol.positioned(self.message, self.channel, self.offset)
            )
        return self._positioned


def event_message(event: Event) -> tuple[str, dict[str, Any]]:
    """The channel an event goes to, and the message its subscribers get (seed 004 shape)."""
    channel = event.channel or event.type
    message = {
        "type": event.type,
        "payload": event.payload,
        "timestamp": isoformat_z(event.occurred_at),
        "id": event.id,
        "channel": channel,
    }
    return channel, message
