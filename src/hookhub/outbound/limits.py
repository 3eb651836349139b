"""Per-webhook limits inside one dispatcher: concurrency and a rate (pure; time is an argument)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """``rate_per_s`` tokens a second, holding at most ``burst``; one token per request."""

    rate_per_s: float
    burst: float
    tokens: float = field(init=False)
    updated_s: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def _refill(self, now_s: float) -> None:
        if self.updated_s is not None:
            self.tokens = min(self.burst, self.tokens + (now_s - self.updated_s) * self.rate_per_s)
        self.updated_s = now_s

    def available(self, now_s: float) -> int:
        self._refill(now_s)
        return int(self.tokens)

    def take(self, now_s: float) -> bool:
        self._refill(now_s)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class WebhookSlots:
    """How many more requests one webhook may start now, given what is in flight.

    ``waiting`` counts its deliveries held by the dispatcher to start as soon as it has room
    (its standby); a webhook may have as many waiting as its cap, beside those in flight, so
    its next round of sends is leased while the current one runs.
    """

    max_concurrency: int
    bucket: TokenBucket | None
    in_flight: int = 0
    waiting: int = 0

    def capacity(self, now_s: float) -> int:
        free = max(self.max_concurrency - self.in_flight, 0)
        if self.bucket is not None:
            free = min(free, self.bucket.available(now_s))
        return free

    def may_wait(self) -> bool:
        """Whether one more delivery may wait for the dispatcher's room (never when rated)."""
        return self.bucket is None and self.waiting < self.max_concurrency

    def start(self, now_s: float) -> None:
        if self.bucket is not None:
            self.bucket.take(now_s)
        self.in_flight += 1

    def finish(self) -> None:
        self.in_flight -= 1


def bucket_for(rate_per_s: float | None, poll_interval_s: float) -> TokenBucket | None:
    """A bucket whose burst covers one poll interval, so the rate holds between polls."""
    if rate_per_s is None:
        return None
    return TokenBucket(rate_per_s=rate_per_s, burst=max(1.0, rate_per_s * poll_interval_s))
