"""The dispatcher: claims due deliveries from the store, sends them, records every attempt.

Several dispatchers (processes) may run against one PostgreSQL store; the claim query keeps
them from sending the same delivery at once. Inside one dispatcher, each webhook has its own
concurrency cap and rate, and deliveries beyond what a webhook may start now are handed back
at once instead of waiting under a lease, so a slow receiver cannot hold work other
dispatchers could do, nor starve other webhooks of this dispatcher's slots.

Deliveries of an event published in this process are handed straight to this dispatcher
when it has room (:class:`LocalHandoff`): they are stored already leased to it, and sent
without a claim or a wake-up. When all its slots are busy, up to ``STANDBY_PER_SLOT`` times
``outbound_max_in_flight`` more wait in its standby, leased, and start as sends finish: under
a steady stream of events, the dispatcher neither claims what it just stored nor leaves its
connections idle while a claim runs. A claim, likewise, leases up to one round of sends
(``outbound_max_in_flight``) ahead into the standby, so a backlog is sent on while the next
claim is under way rather than in rounds of claim, then send. A webhook has at most as many
waiting as its cap, and none when it is rate limited. A delivery whose lease would not
outlast its send is not started from the standby; it is claimed once the lease has run out.
Otherwise the dispatcher wakes on every event published on the bus, and polls every
``outbound_poll_interval_s`` for retries that have come due.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import random
import time
import urllib.request
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx2
import orjson
import structlog
from pydantic import ValidationError

from hookhub.backoff import backoff_delay_s
from hookhub.bus import EVENTS_TOPIC, Bus, Subscription
from hookhub.clock import Clock
from hookhub.config import Settings
from hookhub.events import Event, new_id
from hookhub.memo import Recent
from hookhub.metrics import Metrics
from hookhub.outbound.delivery import (
    AttemptResult,
    DeliveryStatus,
    judge,
    should_disable_for_failures,
)
from hookhub.outbound.limits import WebhookSlots, bucket_for
from hookhub.outbound.models import ClaimedDelivery, WebhookRecord
from hookhub.outbound.recorder import BatchRecorder
from hookhub.outbound.schedule import DEFAULT_RETRY_SCHEDULE_S
from hookhub.outbound.sender import DeliverySender, Exchange, request_headers
from hookhub.outbound.ssrf import UnsafeURLError, UrlGuard
from hookhub.signing import seed_body
from hookhub.store.queue import AttemptRecord, DeliveryQueue

if TYPE_CHECKING:  # a runtime import would be circular: services builds the dispatcher
    from hookhub.services.events import EventPublisher

log = structlog.get_logger(__name__)

WEBHOOK_DISABLED_EVENT = "webhook.disabled"
OUTBOUND_SOURCE = "outbound"
#: How long ``stop`` lets in-flight sends finish before cancelling them (their leases expire
#: and another dispatcher, or this one after restart, sends them again).
STOP_GRACE_S = 5.0
#: How many fully handed-off events to remember, so their bus echo does not wake a claim.
HANDED_OFF_MEMORY = 4096
#: Deliveries the standby holds, per slot of ``outbound_max_in_flight``.
STANDBY_PER_SLOT = 4
#: Sent deliveries whose attempts are still being recorded, per slot: a send frees its slot
#: (and its connection's turn) as soon as the answer is in, not once the store has it.
RECORDING_PER_SLOT = 4
#: Deliveries a claim may lease ahead into the standby, per slot of ``outbound_max_in_flight``.
CLAIM_AHEAD_PER_SLOT = 1
#: A claim made only to lease ahead waits until at least this share (1/n) of a round is missing.
CLAIM_AHEAD_SHARE = 4
#: A delivery starts from the standby only while its lease outlasts a whole send by this much.
STANDBY_LEASE_MARGIN_S = 5.0
#: Bodies of recent events kept, by event id, at most so many and so many bytes: an event
#: that fans out to several webhooks is serialised once (an event never changes).
BODIES_KEPT = 256
BODY_BYTES_KEPT = 4 * 1024 * 1024


class _RefuseCookies(http.cookiejar.DefaultCookiePolicy):
    """Keeps no cookie: one receiver's cookie must never travel to the next URL on its host."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False


def make_client(settings: Settings) -> httpx2.AsyncClient:
    """The HTTP client of actions: no redirects (a redirect could point inside), no cookies."""
    timeout = httpx2.Timeout(
        settings.outbound_timeout_s, connect=settings.outbound_connect_timeout_s
    )
    limits = httpx2.Limits(max_connections=settings.outbound_max_in_flight)
    return httpx2.AsyncClient(
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
        cookies=http.cookiejar.CookieJar(policy=_RefuseCookies()),
    )


def make_sender(settings: Settings) -> DeliverySender:
    """The HTTP side of deliveries, with the configured timeouts and in-flight cap."""
    return DeliverySender(
        max_connections=settings.outbound_max_in_flight,
        connect_timeout_s=settings.outbound_connect_timeout_s,
        timeout_s=settings.outbound_timeout_s,
    )


class Dispatcher:
    def __init__(
        self,
        deliveries: DeliveryQueue,
        publisher: EventPublisher,
        sender: DeliverySender,
        settings: Settings,
        metrics: Metrics,
        clock: Clock,
        *,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._deliveries = deliveries
        self._publisher = publisher
        self._sender = sender
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._rand = rand
        self._guard = UrlGuard.from_cidrs(
            allow_private=settings.outbound_allow_private, cidrs=settings.outbound_allowed_cidrs
        )
        self._slots: dict[str, WebhookSlots] = {}
        self._recorder = BatchRecorder(deliveries)
        self._tasks: set[asyncio.Task[None]] = set()
        #: Of those, the ones whose HTTP exchange is not over yet.
        self._sending = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        #: Slots promised to handoffs whose events are not committed yet.
        self._reserved = 0
        #: Handed-off deliveries waiting for a slot, with their lease's end; and places in it
        #: promised to handoffs whose events are not committed yet.
        self._standby: deque[tuple[datetime, ClaimedDelivery]] = deque()
        self._standby_reserved = 0
        self._handed_off: OrderedDict[str, None] = OrderedDict()
        self._bodies: Recent[str, bytes] = Recent(
            max_items=BODIES_KEPT, max_bytes=BODY_BYTES_KEPT, size=lambda _id, body: len(body)
        )
        #: Whether deliveries may be due that no claim has picked up yet (a claim filled its
        #: limit, some were handed back or skipped for a saturated webhook, a handoff was
        #: partial): only then does a finished send wake the loop to claim again.
        self._backlog = True

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, bus: Bus) -> None:
        self._subscription = await bus.subscribe(EVENTS_TOPIC, self._on_event)
        self._loop = asyncio.create_task(self._run(), name="hookhub-dispatcher")
        self._publisher.attach(self)

    async def stop(self, *, grace_s: float = STOP_GRACE_S) -> None:
        """Stop claiming; let sends in flight finish for ``grace_s``, then cancel the rest."""
        self._publisher.attach(None)
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.cancel()
            await asyncio.wait([loop])  # a cancellation of stop() itself still propagates
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
        await self._release_standby()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._recorder.close()

    def wake(self) -> None:
        self._wake.set()

    async def _release_standby(self) -> None:
        """Hand back the standby's leases that are still ours, so a restart need not wait."""
        now = self._clock()
        waiting, self._standby = self._standby, deque()
        for _lease_until, delivery in waiting:
            self._slots_for(delivery.webhook).waiting -= 1
        ours = [delivery for lease_until, delivery in waiting if lease_until > now]
        with contextlib.suppress(Exception):
            await self._deliveries.release(ours)

    async def drain(self) -> None:
        """Wait for every send started so far (tests, and an orderly stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _on_event(self, _topic: str, message: bytes) -> None:
        if self._handed_off:
            event_id = _event_id(message)
            if event_id is not None and event_id in self._handed_off:
                del self._handed_off[event_id]
                return  # every delivery of that event is already being sent here
        self._wake.set()

    # -- handoff ---------------------------------------------------------------------------

    def handoff(self) -> LocalHandoff | None:
        """An offer to send new deliveries of an event being published in this process.

        None when this dispatcher is not running or has no room, in flight or in its standby:
        the deliveries are then stored unleased and claimed the usual way.
        """
        if self._loop is None or (self._room() <= 0 and self._standby_room() <= 0):
            return None
        now = self._clock()
        lease_until = now + timedelta(seconds=self._settings.outbound_lease_s)
        return LocalHandoff(self, lease_until=lease_until, token=new_id(now))

    def _room(self) -> int:
        """Sends this dispatcher may still start: in-flight and promised ones count.

        So do, up to their own bound, sends being recorded: a slow store slows sending.
        """
        in_flight = self._settings.outbound_max_in_flight
        sending = in_flight - self._sending - self._reserved
        recording = RECORDING_PER_SLOT * in_flight - len(self._tasks) - self._reserved
        return min(sending, recording)

    def _standby_room(self) -> int:
        limit = STANDBY_PER_SLOT * self._settings.outbound_max_in_flight
        return limit - len(self._standby) - self._standby_reserved

    def _reserve(self, webhook: WebhookRecord) -> Reservation | None:
        """A slot to start a delivery of ``webhook`` now, or a place in the standby, or None."""
        slots = self._slots_for(webhook)
        now_s = time.monotonic()
        if self._room() > 0 and not self._standby and slots.capacity(now_s) > 0:
            slots.start(now_s)
            self._reserved += 1
            return Reservation(slots, waiting=False)
        if self._standby_room() > 0 and slots.may_wait():
            slots.waiting += 1
            self._standby_reserved += 1
            return Reservation(slots, waiting=True)
        return None

    def _unreserve(self, reservations: list[Reservation]) -> None:
        for reservation in reservations:
            if reservation.waiting:
                reservation.slots.waiting -= 1
                self._standby_reserved -= 1
            else:
                reservation.slots.finish()
                self._reserved -= 1

    def _settle_handoff(
        self,
        reservations: list[Reservation],
        taken: list[ClaimedDelivery],
        *,
        lease_until: datetime,
        event_id: str | None,
    ) -> None:
        for reservation in reservations:
            if reservation.waiting:
                self._standby_reserved -= 1
            else:
                self._reserved -= 1
        if self._loop is None:
            for reservation in reservations:
                if reservation.waiting:
                    reservation.slots.waiting -= 1
            return  # stopped meanwhile: the leases run out and the deliveries are claimed
        for reservation, delivery in zip(reservations, taken, strict=True):
            if reservation.waiting:
                self._standby.append((lease_until, delivery))
            else:
                self._launch(delivery)
        self._start_standby()
        if event_id is None:
            self._backlog = True
        else:
            self._handed_off[event_id] = None
            while len(self._handed_off) > HANDED_OFF_MEMORY:
                self._handed_off.popitem(last=False)

    def _start_standby(self) -> None:
        """Start waiting deliveries while there is room; drop those whose lease is too short."""
        if not self._standby or self._loop is None:
            return
        now_s = time.monotonic()
        needed = timedelta(seconds=self._settings.outbound_timeout_s + STANDBY_LEASE_MARGIN_S)
        deadline = self._clock() + needed
        blocked: list[tuple[datetime, ClaimedDelivery]] = []
        while self._standby and self._room() > 0:
            lease_until, delivery = self._standby.popleft()
            slots = self._slots_for(delivery.webhook)
            if lease_until < deadline:
                # Sent now, it could still be in flight when another dispatcher claims it.
                slots.waiting -= 1
                self._backlog = True
                continue
            if slots.capacity(now_s) <= 0:
                blocked.append((lease_until, delivery))
                continue
            slots.waiting -= 1
            slots.start(now_s)
            self._launch(delivery)
        self._standby.extendleft(reversed(blocked))

    async def _run(self) -> None:
        interval_s = self._settings.outbound_poll_interval_s
        failures = 0
        while True:
            # Cleared before claiming: a wake-up that arrives during the claim is kept.
            self._wake.clear()
            try:
                started = await self.run_once()
                failures = 0
            except Exception:
                # Whatever failed (store away, a bug), the loop must outlive it.
                failures += 1
                log.warning("dispatcher.claim_failed", failures=failures, exc_info=True)
                await asyncio.sleep(backoff_delay_s(failures, cap_s=interval_s * 10))
                continue
            if started and self._room() > 0:
                continue  # there may be more due right now
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that lands as the wake-up completes, and stop() would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s):
                    await self._wake.wait()

    # -- claiming --------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim what is due and may start now, start sending it; the number started.

        While the dispatcher runs, a claim also leases up to one round of sends ahead into
        the standby, so sends go on from there while the next claim is under way instead of
        waiting for it; such a claim is made once a good part of that round is missing.
        """
        self._start_standby()
        room = max(self._room(), 0)
        ahead = self._ahead_room()
        if room == 0 and ahead < self._claim_ahead_min():
            return 0
        now = self._clock()
        now_s = time.monotonic()
        lease_until = now + timedelta(seconds=self._settings.outbound_lease_s)
        # Webhooks none of whose deliveries could start now, or wait, are left unclaimed.
        full = [
            wid
            for wid, slots in self._slots.items()
            if (room == 0 or slots.capacity(now_s) == 0) and not slots.may_wait()
        ]
        limit = room + ahead
        claimed = await self._deliveries.claim_due(
            now=now, lease_until=lease_until, limit=limit, exclude_webhooks=full
        )
        starting: list[ClaimedDelivery] = []
        handed_back: list[ClaimedDelivery] = []
        for delivery in claimed:
            slots = self._slots_for(delivery.webhook)
            if len(starting) < room and slots.capacity(now_s) > 0:
                slots.start(now_s)
                starting.append(delivery)
            elif self._loop is not None and self._standby_room() > 0 and slots.may_wait():
                slots.waiting += 1
                self._standby.append((lease_until, delivery))
            else:
                handed_back.append(delivery)
        await self._deliveries.release(handed_back)
        self._backlog = len(claimed) == limit or bool(handed_back) or bool(full)
        for delivery in starting:
            self._launch(delivery)
        self._start_standby()
        return len(starting)

    def _ahead_room(self) -> int:
        """Standby places a claim may lease ahead now: up to one round of sends in all."""
        if self._loop is None:
            return 0  # nothing would start them: run_once called on its own (tests, tools)
        waiting = len(self._standby) + self._standby_reserved
        ahead = CLAIM_AHEAD_PER_SLOT * self._settings.outbound_max_in_flight - waiting
        return max(min(ahead, self._standby_room()), 0)

    def _claim_ahead_min(self) -> int:
        return max(1, self._settings.outbound_max_in_flight // CLAIM_AHEAD_SHARE)

    def _launch(self, delivery: ClaimedDelivery) -> None:
        self._sending += 1
        task = asyncio.create_task(self._deliver_started(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._start_standby()  # its slot is free now

    def _slots_for(self, webhook: WebhookRecord) -> WebhookSlots:
        slots = self._slots.get(webhook.id)
        if (
            slots is None
            or slots.max_concurrency != webhook.max_concurrency
            or (slots.bucket.rate_per_s if slots.bucket else None) != webhook.rate_limit_per_s
        ):
            in_flight = slots.in_flight if slots is not None else 0
            waiting = slots.waiting if slots is not None else 0
            slots = WebhookSlots(
                max_concurrency=webhook.max_concurrency,
                bucket=bucket_for(
                    webhook.rate_limit_per_s, self._settings.outbound_poll_interval_s
                ),
                in_flight=in_flight,
                waiting=waiting,
            )
            self._slots[webhook.id] = slots
        return slots

    # -- sending ---------------------------------------------------------------------------

    async def _deliver_started(self, delivery: ClaimedDelivery) -> None:
        done_sending = False

        def sent() -> None:
            nonlocal done_sending
            if done_sending:
                return
            done_sending = True
            self._sending -= 1
            self._slots[delivery.webhook.id].finish()
            self._start_standby()
            if self._backlog:
                self._wake.set()  # a slot is free: more of the backlog may start

        try:
            await self.deliver(delivery, sent=sent)
        except asyncio.CancelledError:
            # Stopping: hand the lease back so a restart need not wait for it to run out.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._deliveries.release([delivery]))
            raise
        except Exception:
            # Recording failed (the store is away): the lease runs out and the delivery is
            # tried again. Log and keep dispatching.
            log.exception("dispatcher.delivery_crashed", delivery_id=delivery.id)
        finally:
            sent()

    async def deliver(
        self, delivery: ClaimedDelivery, *, sent: Callable[[], None] | None = None
    ) -> None:
        """Make one attempt for a claimed delivery and record it, whatever happens.

        ``sent`` is called once the exchange is over, before the attempt is recorded.
        """
        webhook = delivery.webhook
        attempted_at = self._clock()
        exchange = await self._attempt(delivery)
        if sent is not None:
            sent()
        attempts_made = delivery.attempts + 1
        schedule = webhook.retry_schedule_s or list(DEFAULT_RETRY_SCHEDULE_S)
        now = self._clock()
        verdict = judge(
            exchange.result,
            attempts_made=attempts_made,
            now=now,
            schedule_s=schedule,
            rand=self._rand,
        )
        current = await self._recorder.record(
            AttemptRecord(
                claimed=delivery,
                result=exchange.result,
                verdict=verdict,
                attempted_at=attempted_at,
                latency_ms=exchange.latency_ms,
                response_excerpt=exchange.response_excerpt,
                now=now,
            )
        )
        metrics = self._metrics
        metrics.labelled(metrics.webhook_attempts, webhook.id, _outcome(exchange.result)).inc()
        if not current:
            # Our lease ran out and another claim owns the delivery now: it decides.
            log.warning("delivery.lease_lost", delivery_id=delivery.id, webhook_id=webhook.id)
            return
        if exchange.latency_ms is not None:
            latency_s = exchange.latency_ms / 1000
            metrics.labelled(metrics.webhook_latency, webhook.id).observe(latency_s)
        succeeded = verdict.status is DeliveryStatus.SUCCESS
        last = metrics.webhook_last_success if succeeded else metrics.webhook_last_failure
        metrics.labelled(last, webhook.id).set(attempted_at.timestamp())
        if verdict.status is not DeliveryStatus.PENDING:
            finished = metrics.webhook_deliveries
            metrics.labelled(finished, webhook.id, verdict.status.value).inc()
        log.info(
            "delivery.attempted",
            delivery_id=delivery.id,
            webhook_id=webhook.id,
            event_id=delivery.event_id,
            attempt=attempts_made,
            status_code=exchange.result.status_code,
            error=exchange.result.error,
            outcome=verdict.status.value,
        )
        if verdict.disable_webhook:
            await self._disable(delivery, "the receiver answered 410 Gone")
        elif verdict.status is not DeliveryStatus.SUCCESS:
            failing_since = webhook.failing_since or attempted_at
            window = timedelta(seconds=self._settings.outbound_disable_after_s)
            if should_disable_for_failures(failing_since, now, window):
                await self._disable(delivery, f"only failures for {window}")

    async def _attempt(self, delivery: ClaimedDelivery) -> Exchange:
        """One attempt; every failure, expected or not, comes back as a recordable result.

        An exception escaping here would skip recording, and the delivery would be retried
        every lease without ever counting an attempt or reaching ``failed``.
        """
        try:
            return await self._checked_send(delivery)
        except Exception as exc:
            log.exception("dispatcher.attempt_failed", delivery_id=delivery.id)
            error = f"internal error: {type(exc).__name__}"
            return Exchange(AttemptResult(None, error=error), None, None)

    async def _checked_send(self, delivery: ClaimedDelivery) -> Exchange:
        url = delivery.webhook.url
        try:
            # Checked at every send, not only at creation: the name may have been re-pointed
            # at an internal address since (DNS rebinding). The connection then goes to the
            # addresses just checked, never to a second lookup of the name. The lookup has
            # the connect timeout, so a slow resolver cannot hold a lease past its end.
            timeout_s = self._settings.outbound_connect_timeout_s
            addresses = await self._guard.check(url, timeout_s=timeout_s)
        except UnsafeURLError as exc:
            return Exchange(AttemptResult(None, error=f"refused: {exc.message}"), None, None)
        except TimeoutError:
            return Exchange(AttemptResult(None, error="timeout: resolving the host"), None, None)
        body = self._body_of(delivery)
        headers = request_headers(delivery, body, self._clock())
        return await self._sender.send(
            url,
            body,
            headers,
            self._clock,
            total_timeout_s=self._settings.outbound_timeout_s,
            addresses=addresses,
        )

    def _body_of(self, delivery: ClaimedDelivery) -> bytes:
        """The delivery's body, made once for all the webhooks of its event."""
        body = self._bodies.get(delivery.event_id)
        if body is None:
            body = seed_body(delivery.payload)
            self._bodies.put(delivery.event_id, body)
        return body

    async def _disable(self, delivery: ClaimedDelivery, reason: str) -> None:
        webhook = delivery.webhook
        now = self._clock()
        notice = Event.create(
            type=WEBHOOK_DISABLED_EVENT,
            # Scheme and host only: a webhook URL often carries a token (Discord, Slack).
            payload={
                "webhook_id": webhook.id,
                "name": webhook.name,
                "host": _origin(webhook.url),
                "reason": reason,
            },
            source=OUTBOUND_SOURCE,
            now=now,
        )
        if not await self._deliveries.disable_webhook(
            webhook.id, reason=reason, now=now, notice=notice
        ):
            return
        log.warning("webhook.disabled", webhook_id=webhook.id, reason=reason)
        await self._publisher.announce(notice)


@dataclass(frozen=True)
class Reservation:
    """What a handoff's ``take`` holds: a webhook slot to start at once, or a standby place."""

    slots: WebhookSlots
    waiting: bool


class LocalHandoff:
    """One event's offer from the local dispatcher (see :class:`hookhub.store.queue.Handoff`).

    ``take`` reserves a slot of the webhook and of the dispatcher, as a claim would, or a place
    in the dispatcher's standby; after the event is committed the publisher calls ``start``,
    or ``abort`` when storing it failed.
    """

    def __init__(self, dispatcher: Dispatcher, *, lease_until: datetime, token: str) -> None:
        self.lease_until = lease_until
        self.token = token
        self._dispatcher = dispatcher
        self._reserved: list[Reservation] = []

    def take(self, webhook: WebhookRecord) -> bool:
        reservation = self._dispatcher._reserve(webhook)
        if reservation is None:
            return False
        self._reserved.append(reservation)
        return True

    def start(self, taken: list[ClaimedDelivery], *, event_id: str, complete: bool) -> None:
        """Send what was taken; ``complete`` when nothing of the event was left to claim."""
        reserved, self._reserved = self._reserved, []
        self._dispatcher._settle_handoff(
            reserved,
            taken,
            lease_until=self.lease_until,
            event_id=event_id if complete else None,
        )

    def abort(self) -> None:
        """Give back every slot taken; the handoff may take again (the store retries)."""
        reserved, self._reserved = self._reserved, []
        self._dispatcher._unreserve(reserved)


def _event_id(message: bytes) -> str | None:
    # Through the decoded-event cache the other subscribers of the topic share: one parse.
    try:
        return Event.from_json(message).id
    except (orjson.JSONDecodeError, ValidationError):
        return None


def _origin(url: str) -> str:
    parts = httpx2.URL(url)
    return f"{parts.scheme}://{parts.host}" + (f":{parts.port}" if parts.port else "")


def _outcome(result: AttemptResult) -> str:
    if result.status_code is None:
        return "error"
    return f"{result.status_code // 100}xx"
