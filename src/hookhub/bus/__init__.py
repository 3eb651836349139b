"""Publish/subscribe between processes: in-memory by default, Redis when configured."""

from __future__ import annotations

from hookhub.bus.base import Bus, Handler, Subscription
from hookhub.bus.memory import MemoryBus
from hookhub.bus.redis import DEFAULT_KEY_PREFIX, RedisBus

#: The topic every published event travels on.
EVENTS_TOPIC = "events"


def make_bus(redis_url: str | None, *, key_prefix: str = DEFAULT_KEY_PREFIX) -> Bus:
    return RedisBus(redis_url, key_prefix=key_prefix) if redis_url else MemoryBus()


__all__ = ["EVENTS_TOPIC", "Bus", "Handler", "MemoryBus", "RedisBus", "Subscription", "make_bus"]
