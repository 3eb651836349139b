"""``/webhooks``: outgoing webhook subscriptions and their delivery log (admin, seed 004)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Security
from pydantic import AwareDatetime, BaseModel

from hookhub.http.deps import (
    AdminRoute,
    Limit,
    Offset,
    PrincipalDep,
    RequestIdDep,
    ServicesDep,
    bearer_scheme,
)
from hookhub.http.errors import ADMIN_ERROR_RESPONSES, ErrorBody
from hookhub.outbound.delivery import DeliveryStatus
from hookhub.outbound.matching import PATTERN_REGEX
from hookhub.outbound.models import (
    DeliveryDetail,
    DeliveryOut,
    OverallStats,
    RecoverResult,
    RotateSecret,
    WebhookCreate,
    WebhookOut,
    WebhookStats,
    WebhookUpdate,
    WebhookWithSecret,
)
from hookhub.paging import DEFAULT_PAGE_LIMIT, Page

router = APIRouter(
    prefix="/webhooks",
    tags=["webhooks"],
    route_class=AdminRoute,
    dependencies=[Security(bearer_scheme)],
    responses={**ADMIN_ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "Not found"}},
)


class Deleted(BaseModel):
    success: bool = True
    message: str = "Webhook deleted"


@router.post("", status_code=201, response_model=WebhookWithSecret, summary="Create a webhook")
async def create_webhook(body: WebhookCreate, services: ServicesDep) -> WebhookWithSecret:
    """The answer holds the signing secret (given, or generated as ``whsec_…``) this once."""
    return await services.webhooks.create(body)


@router.get("", response_model=Page[WebhookOut], summary="List webhooks")
async def list_webhooks(
    services: ServicesDep,
    event_type: Annotated[str | None, Query(max_length=128, pattern=PATTERN_REGEX)] = None,
    is_active: bool | None = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
    offset: Offset = 0,
) -> Page[WebhookOut]:
    return await services.webhooks.list(
        event_type=event_type, is_active=is_active, limit=limit, offset=offset
    )


@router.get("/stats", response_model=OverallStats, summary="Delivery stats over all webhooks")
async def overall_stats(services: ServicesDep) -> OverallStats:
    return await services.webhooks.overall_stats()


@router.get("/{webhook_id}", response_model=WebhookOut, summary="One webhook")
async def get_webhook(webhook_id: str, services: ServicesDep) -> WebhookOut:
    return await services.webhooks.get(webhook_id)


@router.patch("/{webhook_id}", response_model=WebhookOut, summary="Change any field of a webhook")
async def update_webhook(
    webhook_id: str,
    body: WebhookUpdate,
    services: ServicesDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> WebhookOut:
    """A new ``secret`` here is a rotation, as with ``rotate-secret``."""
    return await services.webhooks.update(
        webhook_id, body, actor=principal.name, request_id=request_id
    )


@router.delete("/{webhook_id}", response_model=Deleted, summary="Delete a webhook and its log")
async def delete_webhook(webhook_id: str, services: ServicesDep) -> Deleted:
    await services.webhooks.delete(webhook_id)
    return Deleted()


@router.get("/{webhook_id}/stats", response_model=WebhookStats, summary="One webhook's stats")
async def webhook_stats(webhook_id: str, services: ServicesDep) -> WebhookStats:
    return await services.webhooks.stats(webhook_id)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    summary="Rotate the signing secret; the old one still signs during the overlap",
)
async def rotate_secret(
    webhook_id: str,
    services: ServicesDep,
    body: RotateSecret,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> WebhookWithSecret:
    """Body ``{}`` for a generated secret, or ``{"secret": "..."}`` to set one."""
    return await services.webhooks.rotate_secret(
        webhook_id, body.secret, actor=principal.name, request_id=request_id
    )


@router.post(
    "/{webhook_id}/test",
    response_model=DeliveryDetail,
    summary="Send a webhook.test event now and return the attempt",
)
async def send_test(webhook_id: str, services: ServicesDep) -> DeliveryDetail:
    return await services.webhooks.send_test(webhook_id)


@router.post(
    "/{webhook_id}/recover",
    response_model=RecoverResult,
    summary="Re-queue the failed deliveries created in a time window",
)
async def recover(
    webhook_id: str,
    services: ServicesDep,
    since: Annotated[AwareDatetime, Query(description="ISO 8601 with a zone")],
    until: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
) -> RecoverResult:
    count = await services.webhooks.recover(webhook_id, since=since, until=until)
    return RecoverResult(requeued=count)


@router.get(
    "/{webhook_id}/deliveries", response_model=Page[DeliveryOut], summary="The delivery log"
)
async def list_deliveries(
    webhook_id: str,
    services: ServicesDep,
    status: DeliveryStatus | None = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
    offset: Offset = 0,
) -> Page[DeliveryOut]:
    return await services.webhooks.deliveries(webhook_id, status=status, limit=limit, offset=offset)


@router.get(
    "/{webhook_id}/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    summary="One delivery with its payload and every attempt",
)
async def get_delivery(webhook_id: str, delivery_id: str, services: ServicesDep) -> DeliveryDetail:
    return await services.webhooks.delivery(webhook_id, delivery_id)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/resend",
    response_model=DeliveryOut,
    summary="Queue a delivery again now (same webhook-id)",
)
async def resend(webhook_id: str, delivery_id: str, services: ServicesDep) -> DeliveryOut:
    return await services.webhooks.resend(webhook_id, delivery_id)
