"""The bus contract: publish/subscribe of bytes between the parts of hookhub.

A topic is a dot-separated name (``events``, ``realtime.user:42``). A subscription names a
topic or a glob pattern (``realtime.*``) and a handler. Delivery is at-most-once: a message
published while a subscriber's queue is full, or while Redis is away, is dropped and counted;
durable things (events, deliveries) live in the store, not on the bus.

Each subscription has its own bounded queue and its own task, so a slow handler delays only
itself; one failing handler is logged and the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)

Handler = Callable[[str, bytes], Awaitable[None]]

#: Messages a subscription may hold before new ones are dropped.
DEFAULT_SUBSCRIPTION_QUEUE_MESSAGES = 10_000


class Bus(Protocol):
    """What every bus implementation offers. ``start`` before use, ``close`` once at the end."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, topic: str, message: bytes) -> None:
        """Hand ``message`` to every current subscriber of ``topic``, on every process.

        Raises :class:`hookhub.errors.BusError` when the bus cannot take it (Redis away).
        """
        ...

    async def subscribe(self, pattern: str, handler: Handler) -> Subscription:
        """Call ``handler(topic, message)`` for each message on a topic matching ``pattern``."""
        ...

    async def ping(self) -> None:
        """Raise :class:`hookhub.errors.BusError` unless the bus is usable."""
        ...


def is_pattern(topic: str) -> bool:
    return any(ch in topic for ch in "*?[")


def matches(pattern: str, topic: str) -> bool:
    return fnmatch.fnmatchcase(topic, pattern) if is_pattern(pattern) else pattern == topic


class Subscription:
    """One handler with its own bounded queue and task. Closing it stops further calls."""

    def __init__(
        self,
        pattern: str,
        handler: Handler,
        *,
        on_close: Callable[[Subscription], Awaitable[None]],
        max_queued: int = DEFAULT_SUBSCRIPTION_QUEUE_MESSAGES,
    ) -> None:
        self.pattern = pattern
        self.dropped = 0
        self._handler = handler
        self._on_close = on_close
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=max_queued)
        self._task: asyncio.Task[None] | None = asyncio.create_task(self._run())

    def offer(self, topic: str, message: bytes) -> None:
        """Queue a message without waiting; drop it (and count) when the queue is full."""
        try:
            self._queue.put_nowait((topic, message))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("bus.dropped", pattern=self.pattern, topic=topic, dropped=self.dropped)

    async def drain(self) -> None:
        """Wait until every queued message has been handled (tests and orderly shutdown)."""
        await self._queue.join()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self._on_close(self)

    async def _run(self) -> None:
        while True:
            topic, message = await self._queue.get()
            try:
                await self._handler(topic, message)
            except Exception:
                log.exception("bus.handler_failed", pattern=self.pattern, topic=topic)
            finally:
                self._queue.task_done()
