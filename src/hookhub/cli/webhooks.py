"""``hookhub webhooks``: outgoing webhooks from the command line, over the same service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from hookhub.cli.common import fail, invalid, load, out, run
from hookhub.clock import isoformat_z
from hookhub.outbound.delivery import DeliveryStatus
from hookhub.outbound.models import WebhookCreate, WebhookOut, WebhookStats
from hookhub.paging import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from hookhub.services import Services

webhooks_app = typer.Typer(help="Outgoing webhooks.", no_args_is_help=True)

#: Failed deliveries re-queued per step of ``recover``, one progress-bar tick each.
RECOVER_BATCH = 500


def _when(value: datetime | None) -> str:
    return isoformat_z(value) if value is not None else "-"


def _parse_time(value: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{option}: not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:  # refused as the HTTP API refuses it: a guess could be hours off
        raise fail(f"{option}: give a zone, e.g. {value}Z or {value}+02:00")
    return moment


@webhooks_app.command("list")
def list_webhooks(
    event_type: Annotated[str | None, typer.Option(help="Only this pattern.")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive", help="By state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """List webhooks."""
    page = run(
        load(),
        lambda s: s.webhooks.list(
            event_type=event_type, is_active=active, limit=limit, offset=offset
        ),
    )
    table = Table("id", "name", "event type", "url", "active", title=f"webhooks ({page.total})")
    for webhook in page.items:
        table.add_row(
            webhook.id, webhook.name, webhook.event_type, webhook.url, str(webhook.is_active)
        )
    out.print(table)


@webhooks_app.command("create")
def create(
    name: Annotated[str, typer.Option()],
    url: Annotated[str, typer.Option()],
    event_type: Annotated[str, typer.Option(help="Exact type, `*`, or a prefix like ticket.*")],
    secret: Annotated[str | None, typer.Option(help="Default: a generated whsec_ secret.")] = None,
    description: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a webhook and print its signing secret (shown this once)."""
    try:
        body = WebhookCreate(
            name=name, url=url, event_type=event_type, secret=secret, description=description
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    created = run(load(), lambda s: s.webhooks.create(body))
    out.print(f"webhook {created.id} ({created.name}) → {created.url}")
    out.print(f"secret: {created.secret}", soft_wrap=True)


@webhooks_app.command("show")
def show(webhook_id: Annotated[str, typer.Argument()]) -> None:
    """One webhook with its delivery stats."""

    async def both(services: Services) -> tuple[WebhookOut, WebhookStats]:
        return await services.webhooks.get(webhook_id), await services.webhooks.stats(webhook_id)

    webhook, stats = run(load(), both)
    table = Table("field", "value", title=f"webhook {webhook.id}")
    for field, value in webhook.model_dump(mode="json").items():
        table.add_row(field, "-" if value is None else str(value))
    for field, value in stats.model_dump(mode="json").items():
        table.add_row(f"stats.{field}", "-" if value is None else str(value))
    out.print(table)


@webhooks_app.command("deliveries")
def deliveries(
    webhook_id: Annotated[str, typer.Argument()],
    status: Annotated[
        DeliveryStatus | None, typer.Option(help="pending, success or failed")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """A webhook's delivery log, newest first."""
    page = run(
        load(),
        lambda s: s.webhooks.deliveries(webhook_id, status=status, limit=limit, offset=offset),
    )
    table = Table(
        "id",
        "event",
        "status",
        "attempts",
        "last code",
        "next retry",
        "created",
        title=f"deliveries ({page.total})",
    )
    for delivery in page.items:
        table.add_row(
            delivery.id,
            delivery.event_type,
            delivery.status.value,
            str(delivery.attempts),
            str(delivery.last_status_code or "-"),
            _when(delivery.next_retry_at),
            _when(delivery.created_at),
        )
    out.print(table)


@webhooks_app.command("resend")
def resend(
    webhook_id: Annotated[str, typer.Argument()],
    delivery_id: Annotated[str, typer.Argument()],
) -> None:
    """Queue one delivery again now (the receiver sees the same webhook-id)."""
    delivery = run(load(), lambda s: s.webhooks.resend(webhook_id, delivery_id))
    out.print(f"delivery {delivery.id} queued again")


@webhooks_app.command("recover")
def recover(
    webhook_id: Annotated[str, typer.Argument()],
    since: Annotated[str, typer.Option(help="ISO 8601 with a zone, e.g. 2026-11-20T00:00:00Z.")],
    until: Annotated[str | None, typer.Option(help="ISO 8601; default now.")] = None,
) -> None:
    """Re-queue every failed delivery created in a window, with a progress bar."""
    start = _parse_time(since, "--since")
    end = _parse_time(until, "--until") if until is not None else None

    async def requeue(services: Services) -> int:
        total, window_end = await services.webhooks.recoverable(webhook_id, since=start, until=end)
        done = 0
        columns = (TextColumn("re-queueing"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=out, transient=False) as progress:
            task = progress.add_task("recover", total=total)
            while done < total:
                step = await services.webhooks.recover(
                    webhook_id, since=start, until=window_end, limit=RECOVER_BATCH
                )
                if step == 0:
                    break
                done += step
                progress.update(task, completed=done)
        return done

    count = run(load(), requeue)
    out.print(f"re-queued {count} failed deliveries")
