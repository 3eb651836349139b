"""The in-memory bus: one process, no server. The embedded default."""

from __future__ import annotations

from hookhub.bus.base import DEFAULT_SUBSCRIPTION_QUEUE_MESSAGES, Handler, Subscription


class MemoryBus:
    def __init__(self, *, max_queued: int = DEFAULT_SUBSCRIPTION_QUEUE_MESSAGES) -> None:
        self._max_queued = max_queued
        self._subscriptions: list[Subscription] = []

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()

    async def publish(self, topic: str, message: bytes) -> None:
        # offer() never waits, so the list cannot change under this loop.
        for subscription in self._subscriptions:
            if subscription.accepts(topic):
                subscription.offer(topic, message)

    async def subscribe(self, pattern: str, handler: Handler) -> Subscription:
        subscription = Subscription(
            pattern, handler, on_close=self._forget, max_queued=self._max_queued
        )
        self._subscriptions.append(subscription)
        return subscription

    async def ping(self) -> None:
        return None

    async def _forget(self, subscription: Subscription) -> None:
        self._subscriptions.remove(subscription)
