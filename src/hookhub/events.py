"""The event: the one concept everything in hookhub carries (see DESIGN.md).

Pure: no clock reads, no I/O. Ids are ULIDs: 26 characters, unique, and sortable by creation
time, so a listing ordered by id is ordered by time.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from hookhub.clock import isoformat_z
from hookhub.memo import Recent

#: Dotted lowercase names: ``ticket.created``, ``user.status_changed``, ``webhook.test``.
EVENT_TYPE_PATTERN = r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$"
#: Channel names: letters, digits and ``_-.:@/`` (``user:42``, ``shop/orders``).
CHANNEL_PATTERN = r"^[A-Za-z0-9_\-.:@/]+$"
MAX_TYPE_CHARS = 128
MAX_CHANNEL_CHARS = 255
MAX_SOURCE_CHARS = 64
#: Bus messages kept decoded, for the other subscribers handed the same one: at most this
#: many, and at most ``DECODED_BYTES_KEPT`` of message text. Each subscriber reads the bus in
#: its own task, so one may handle a whole burst of publishes before the next runs: with 16
#: kept, a burst of 64 concurrent publishes missed almost every time, and each of the three
#: subscribers parsed and validated every event. A miss only costs a parse.
DECODED_EVENTS_KEPT = 1024
DECODED_BYTES_KEPT = 8 * 1024 * 1024


#: Crockford's base32, two characters (10 bits) at a time: a ULID's 130 bits are 13 pairs.
_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [high + low for high in _BASE32 for low in _BASE32]
_PAIR_SHIFTS = range(120, -1, -10)
_MAX_RANDOM = (1 << 80) - 1
#: The last id's time and random parts (see :func:`new_id`).
_last_millis = -1
_last_random = 0


def new_id(moment: datetime | None = None) -> str:
    """A new ULID as text; with ``moment``, its time part is that moment.

    48 bits of Unix time in milliseconds, then 80 random bits, as the ULID specification
    lays them out. Made here rather than with ``python-ulid``, whose objects cost about twice
    as much: every request, event, delivery and execution takes at least one.
    """
    global _last_millis, _last_random
    millis = int(moment.timestamp() * 1000) if moment is not None else time.time_ns() // 1_000_000
    if millis == _last_millis and _last_random < _MAX_RANDOM:
        # Within one millisecond, ids of this process still sort in the order they were made
        # (as python-ulid's monotonic generator does): one more than the last random part.
        _last_random += 1
    else:
        _last_millis, _last_random = millis, int.from_bytes(os.urandom(10))
    value = millis << 80 | _last_random
    return "".join([_PAIRS[value >> shift & 1023] for shift in _PAIR_SHIFTS])


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a timezone")
    return value


UtcDatetime = Annotated[
    datetime, AfterValidator(_utc), PlainSerializer(isoformat_z, return_type=str, when_used="json")
]
EventType = Annotated[
    str, Field(min_length=1, max_length=MAX_TYPE_CHARS, pattern=EVENT_TYPE_PATTERN)
]
Channel = Annotated[str, Field(min_length=1, max_length=MAX_CHANNEL_CHARS, pattern=CHANNEL_PATTERN)]


class Event(BaseModel):
    """``{id, type, payload, source, channel?, occurred_at}``; immutable once made."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: EventType
    payload: dict[str, Any]
    source: str = Field(max_length=MAX_SOURCE_CHARS)
    channel: Channel | None = None
    occurred_at: UtcDatetime

    @classmethod
    def create(
        cls,
        *,
        type: str,
        payload: dict[str, Any],
        source: str,
        now: datetime,
        channel: str | None = None,
    ) -> Event:
        """A new event with a fresh id whose time part is ``now``."""
        return cls(
            id=new_id(now),
            type=type,
            payload=payload,
            source=source,
            channel=channel,
            occurred_at=now,
        )

    def to_json(self) -> bytes:
        """The event as compact JSON bytes, the form it travels in over the bus."""
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: bytes) -> Event:
        """The event a bus message carries.

        Every local subscriber of the events topic (the hub, the automations, the dispatcher)
        is handed the same message, so the last few are kept decoded and each is parsed and
        validated once. The event is frozen; its payload is shared, so no reader changes it.
        """
        return _decoded(data)


def _decoded(data: bytes) -> Event:
    event = _DECODED.get(data)
    if event is None:
        event = Event.model_validate(orjson.loads(data))  # a refusal is not kept
        _DECODED.put(data, event)
    return event


_DECODED: Recent[bytes, Event] = Recent(
    max_items=DECODED_EVENTS_KEPT,
    max_bytes=DECODED_BYTES_KEPT,
    size=lambda data, _event: len(data),
)
