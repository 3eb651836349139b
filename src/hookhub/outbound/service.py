"""Managing outgoing webhooks: create, change, rotate, resend, recover, test, and stats."""

from __future__ import annotations

from datetime import datetime, timedelta

from hookhub.audit import AuditAction
from hookhub.clock import Clock
from hookhub.config import Settings
from hookhub.errors import ConflictError, InvalidInputError, NotFoundError
from hookhub.events import Event
from hookhub.outbound.delivery import DeliveryStatus
from hookhub.outbound.dispatcher import Dispatcher
from hookhub.outbound.models import (
    DeliveryDetail,
    DeliveryOut,
    OverallStats,
    WebhookCreate,
    WebhookOut,
    WebhookRecord,
    WebhookStats,
    WebhookUpdate,
    WebhookWithSecret,
)
from hookhub.outbound.ssrf import UrlGuard
from hookhub.paging import Page
from hookhub.signing import SignatureError, generate_secret, standard_key
from hookhub.store.outbound import DeliveryRepository, WebhookRepository
from hookhub.store.queue import DeliveryQueue
from hookhub.store.repositories import AuditRepository

TEST_EVENT_TYPE = "webhook.test"
TEST_SOURCE = "outbound.test"


class WebhookService:
    def __init__(
        self,
        webhooks: WebhookRepository,
        deliveries: DeliveryRepository,
        queue: DeliveryQueue,
        audit: AuditRepository,
        dispatcher: Dispatcher,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._webhooks = webhooks
        self._deliveries = deliveries
        self._queue = queue
        self._audit = audit
        self._dispatcher = dispatcher
        self._settings = settings
        self._clock = clock
        self._guard = UrlGuard.from_cidrs(
            allow_private=settings.outbound_allow_private, cidrs=settings.outbound_allowed_cidrs
        )

    async def _check_url(self, url: str) -> None:
        await self._guard.check(url)

    async def _require(self, webhook_id: str) -> WebhookRecord:
        found = await self._webhooks.get(webhook_id)
        if found is None:
            raise NotFoundError("Webhook not found")
        return found

    async def create(self, body: WebhookCreate) -> WebhookWithSecret:
        """Store a webhook; its secret (given or generated) is in the answer this once."""
        await self._check_url(body.url)
        secret = body.secret or generate_secret()
        _check_secret(secret)
        fields = body.model_dump(exclude={"secret"})
        created = await self._webhooks.create(fields=fields, secret=secret, now=self._clock())
        return WebhookWithSecret(**created.public().model_dump(), secret=secret)

    async def get(self, webhook_id: str) -> WebhookOut:
        return (await self._require(webhook_id)).public()

    async def list(
        self, *, event_type: str | None, is_active: bool | None, limit: int, offset: int
    ) -> Page[WebhookOut]:
        page = await self._webhooks.list(
            event_type=event_type, is_active=is_active, limit=limit, offset=offset
        )
        return Page(
            items=[w.public() for w in page.items], total=page.total, limit=limit, offset=offset
        )

    async def update(
        self, webhook_id: str, body: WebhookUpdate, *, actor: str, request_id: str | None
    ) -> WebhookOut:
        """Change the fields given; a new ``secret`` is a rotation, with its overlap and audit."""
        changes = body.model_dump(exclude_unset=True)
        secret = changes.pop("secret", None)
        for required in ("name", "url", "event_type", "is_active", "max_concurrency"):
            if required in changes and changes[required] is None:
                raise InvalidInputError(f"{required} cannot be null")
        if "url" in changes:
            await self._check_url(changes["url"])
        if "secret" in body.model_fields_set:
            if secret is None:
                raise InvalidInputError("secret cannot be null")
            await self.rotate_secret(webhook_id, secret, actor=actor, request_id=request_id)
        updated = await self._webhooks.update(webhook_id, changes, now=self._clock())
        if updated is None:
            raise NotFoundError("Webhook not found")
        return updated.public()

    async def delete(self, webhook_id: str) -> None:
        if not await self._webhooks.delete(webhook_id):
            raise NotFoundError("Webhook not found")

    async def rotate_secret(
        self, webhook_id: str, secret: str | None, *, actor: str, request_id: str | None
    ) -> WebhookWithSecret:
        """Replace the secret; the old one keeps signing beside it for the overlap."""
        await self._require(webhook_id)
        new_secret = secret or generate_secret()
        _check_secret(new_secret)
        now = self._clock()
        overlap = timedelta(seconds=self._settings.outbound_rotation_overlap_s)
        rotated = await self._webhooks.rotate(
            webhook_id, secret=new_secret, previous_valid_until=now + overlap, now=now
        )
        if rotated is None:
            raise NotFoundError("Webhook not found")
        await self._audit.add(
            actor=actor,
            action=AuditAction.SECRET_ROTATED,
            target=webhook_id,
            request_id=request_id,
            details={"previous_valid_until": (now + overlap).isoformat()},
            now=now,
        )
        return WebhookWithSecret(**rotated.public().model_dump(), secret=new_secret)

    async def deliveries(
        self, webhook_id: str, *, status: DeliveryStatus | None, limit: int, offset: int
    ) -> Page[DeliveryOut]:
        await self._require(webhook_id)
        return await self._deliveries.list_for_webhook(
            webhook_id, status=status, limit=limit, offset=offset
        )

    async def delivery(self, webhook_id: str, delivery_id: str) -> DeliveryDetail:
        await self._require(webhook_id)
        found = await self._deliveries.detail(webhook_id, delivery_id)
        if found is None:
            raise NotFoundError("Delivery not found")
        return found

    async def resend(self, webhook_id: str, delivery_id: str) -> DeliveryOut:
        """Queue a delivery again, now; it keeps its id, so the receiver sees one webhook-id."""
        _require_active(await self._require(webhook_id))
        requeued = await self._deliveries.requeue(webhook_id, delivery_id, now=self._clock())
        if requeued is None:
            raise NotFoundError("Delivery not found")
        self._dispatcher.wake()
        return requeued

    async def recoverable(
        self, webhook_id: str, *, since: datetime, until: datetime | None
    ) -> tuple[int, datetime]:
        """How many failed deliveries ``recover`` would re-queue, and the window's end."""
        await self._require(webhook_id)
        end = until or self._clock()
        if since > end:
            raise InvalidInputError("since must not be after until")
        return await self._deliveries.count_failed(webhook_id, since=since, until=end), end

    async def recover(
        self,
        webhook_id: str,
        *,
        since: datetime,
        until: datetime | None,
        limit: int | None = None,
    ) -> int:
        """Re-queue the failed deliveries created between ``since`` and ``until`` (or now).

        With ``limit``, at most that many, oldest first: call again until it returns 0.
        """
        _require_active(await self._require(webhook_id))
        now = self._clock()
        end = until or now
        if since > end:
            raise InvalidInputError("since must not be after until")
        count = await self._deliveries.recover(
            webhook_id, since=since, until=end, now=now, limit=limit
        )
        self._dispatcher.wake()
        return count

    async def send_test(self, webhook_id: str) -> DeliveryDetail:
        """Send a ``webhook.test`` event to this webhook only, now; the recorded attempt."""
        webhook = await self._require(webhook_id)
        _require_active(webhook)
        now = self._clock()
        event = Event.create(
            type=TEST_EVENT_TYPE,
            payload={"webhook_id": webhook.id, "name": webhook.name, "test": True},
            source=TEST_SOURCE,
            now=now,
        )
        lease = timedelta(seconds=self._settings.outbound_lease_s)
        claimed = await self._queue.add_single(webhook, event, lease_until=now + lease)
        await self._dispatcher.deliver(claimed)
        return await self.delivery(webhook.id, claimed.id)

    async def stats(self, webhook_id: str) -> WebhookStats:
        await self._require(webhook_id)
        return await self._deliveries.stats(webhook_id)

    async def overall_stats(self) -> OverallStats:
        stats = await self._deliveries.stats(None)
        total, active = await self._webhooks.counts()
        return OverallStats(**stats.model_dump(), webhooks=total, active_webhooks=active)


def _require_active(webhook: WebhookRecord) -> None:
    # A disabled webhook's deliveries are never claimed: queueing them now would only look
    # like it worked.
    if not webhook.is_active:
        raise ConflictError("the webhook is disabled; enable it first (PATCH is_active: true)")


def _check_secret(secret: str) -> None:
    try:
        standard_key(secret)
    except SignatureError as exc:
        raise InvalidInputError(str(exc)) from None
