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
        """Call ``handler(topic, message)`` for each message on a topic matching ``pattern``.

        When the bus is connected, the subscription is active once this returns: a message
        published afterwards, from any process, reaches it. Close it with
        :meth:`Subscription.close`; ``close`` on the bus closes those still open.
        """
        ...

    async def ping(self) -> None:
        """Raise :class:`hookhub.errors.BusError` unless the bus is usable."""
        ...


def is_pattern(topic: str) -> bool:
    return any(ch in topic for ch in "*?[")


class Subscription:
    """One handler with its own bounded queue and task.

    The bus offers messages with :meth:`offer`, which never waits: over ``max_queued`` the
    message is dropped and counted in :attr:`dropped`, so one slow handler never slows a
    publisher or another subscription. Once :meth:`close` has returned the handler is not
    called again; messages still queued are discarded.
    """

    def __init__(
        self,
        pattern: str,
        handler: Handler,
        *,
        on_close: Callable[[Subscription], Awaitable[None]],
        max_queued: int = DEFAULT_SUBSCRIPTION_QUEUE_MESSAGES,
    ) -> None:
        # asyncio.Queue(maxsize=0) is unbounded: refuse it rather than lose the bound silently.
        if max_queued < 1:
            raise ValueError(f"max_queued must be at least 1, got {max_queued}")
        self.pattern = pattern
        self._glob = is_pattern(pattern)
        #: Messages dropped because the queue was full.
        self.dropped = 0
        self._handler = handler
        self._on_close = on_close
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=max_queued)
        self._task: asyncio.Task[None] | None = asyncio.create_task(
            self._run(), name=f"hookhub-bus-subscription:{pattern}"
        )

    def accepts(self, topic: str) -> bool:
        """Whether a message on ``topic`` is for this subscription."""
        # fnmatch and Redis globs agree on *, ? and [abc]; they differ on negated classes
        # (fnmatch [!a], Redis [^a]) and backslash escapes, so patterns should not use those.
        return fnmatch.fnmatchcase(topic, self.pattern) if self._glob else self.pattern == topic

    @property
    def closed(self) -> bool:
        return self._task is None

    def offer(self, topic: str, message: bytes) -> None:
        """Queue a message without waiting; drop it (and count) when the queue is full."""
        if self._task is None:
            return
        try:
            self._queue.put_nowait((topic, message))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("bus.dropped", pattern=self.pattern, topic=topic, dropped=self.dropped)

    async def drain(self) -> None:
        """Wait until every queued message has been handled (tests and orderly shutdown).

        Returns at once after :meth:`close`, which discards what was still queued.
        """
        await self._queue.join()

    async def close(self) -> None:
        """Stop the task and tell the bus to forget this subscription. Idempotent.

        May be called from the handler itself: the message being handled then completes and
        nothing after it is delivered.
        """
        task, self._task = self._task, None
        if task is None:
            return
        try:
            if task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            self._discard_queued()
            await self._on_close(self)

    def _discard_queued(self) -> None:
        # Mark each discarded message done, so a concurrent drain() returns instead of hanging.
        while True:
            try:
                self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            self._queue.task_done()

    async def _run(self) -> None:
        while self._task is not None:
            topic, message = await self._queue.get()
            try:
                await self._handler(topic, message)
            except Exception:
                log.exception("bus.handler_failed", pattern=self.pattern, topic=topic)
            finally:
                self._queue.task_done()
