"""The batch recorder on a real store: many attempts per commit, one bad record sinks none."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update

from hookhub.outbound.delivery import AttemptResult, DeliveryStatus, IllegalTransitionError, Verdict
from hookhub.outbound.models import ClaimedDelivery, WebhookCreate
from hookhub.outbound.recorder import BatchRecorder
from hookhub.services import Services
from hookhub.store.models import Delivery, DeliveryAttempt
from hookhub.store.queue import AttemptRecord
from tests.outbound.conftest import FakeClock

SUCCESS = Verdict(DeliveryStatus.SUCCESS, None)


async def claimed_deliveries(
    services: Services, clock: FakeClock, count: int
) -> list[ClaimedDelivery]:
    await services.webhooks.create(
        WebhookCreate(name="r", url="http://127.0.0.1:9/hook", event_type="*")
    )
    for n in range(count):
        await services.publisher.publish(type="t", payload={"n": n}, source="test")
    return await services.queue.claim_due(
        now=clock.now, lease_until=clock.now + timedelta(seconds=60), limit=count
    )


def ok(claimed: ClaimedDelivery, clock: FakeClock) -> AttemptRecord:
    return AttemptRecord(claimed, AttemptResult(200), SUCCESS, clock.now, 1.0, "ok", clock.now)


async def test_concurrent_records_share_commits(make_services: Any, clock: FakeClock) -> None:
    services = await make_services()
    claimed = await claimed_deliveries(services, clock, 40)
    commits = 0
    record_attempts = services.queue.record_attempts

    async def counting(records: Any) -> list[bool]:
        nonlocal commits
        commits += 1
        return await record_attempts(records)

    services.queue.record_attempts = counting  # type: ignore[method-assign]
    recorder = BatchRecorder(services.queue)
    try:
        results = await asyncio.gather(*(recorder.record(ok(c, clock)) for c in claimed))
    finally:
        await recorder.close()
    assert results == [True] * 40
    assert commits < 40  # they queued up while earlier ones were written
    stats = await services.webhooks.overall_stats()
    assert stats.success == 40


async def test_one_bad_record_does_not_sink_its_batch(make_services: Any, clock: FakeClock) -> None:
    services = await make_services()
    first, second, third = await claimed_deliveries(services, clock, 3)
    await services.queue.record_attempt(ok(second, clock))
    recorder = BatchRecorder(services.queue)
    try:
        # Give the finished delivery its old lease token back: recording it again then asks
        # the store for success -> success, an illegal transition.
        async with services.db.session() as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id == second.id)
                .values(lease_token=second.lease_token)
            )
        results = await asyncio.gather(
            recorder.record(ok(first, clock)),
            recorder.record(ok(second, clock)),
            recorder.record(ok(third, clock)),
            return_exceptions=True,
        )
    finally:
        await recorder.close()
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], IllegalTransitionError)
    stats = await services.webhooks.overall_stats()
    assert stats.success == 3


async def test_a_closed_recorder_can_be_used_again(make_services: Any, clock: FakeClock) -> None:
    services = await make_services()
    [claimed] = await claimed_deliveries(services, clock, 1)
    recorder = BatchRecorder(services.queue)
    await recorder.close()
    assert await recorder.record(ok(claimed, clock)) is True
    await recorder.close()


async def test_a_claim_whose_lease_ran_out_changes_nothing_beside_current_ones(
    make_services: Any, clock: FakeClock, database_url: str
) -> None:
    services = await make_services(database_url=database_url)
    stale, _ = await claimed_deliveries(services, clock, 2)
    clock.advance(61)  # both leases ran out; another dispatcher claims both
    current = await services.queue.claim_due(
        now=clock.now, lease_until=clock.now + timedelta(seconds=60), limit=2
    )
    [_, second] = sorted(current, key=lambda claimed: claimed.id != stale.id)
    assert await services.queue.record_attempts([ok(stale, clock), ok(second, clock)]) == [
        False,
        True,
    ]
    async with services.db.session() as session:
        rows = {
            row.id: (row.status, row.attempts, row.lease_token)
            for row in (await session.execute(select(Delivery))).scalars()
        }
    holder = next(claimed for claimed in current if claimed.id == stale.id)
    assert rows[stale.id] == ("pending", 0, holder.lease_token)  # still the new holder's
    assert rows[second.id] == ("success", 1, None)
    stale_detail = await services.webhooks.delivery(stale.webhook.id, stale.id)
    assert [attempt.status_code for attempt in stale_detail.attempt_log] == [200]  # it happened


async def attempts_by_delivery(services: Services) -> dict[str, int]:
    async with services.db.session() as session:
        rows = (await session.execute(select(DeliveryAttempt.delivery_id))).scalars().all()
    return {delivery_id: rows.count(delivery_id) for delivery_id in set(rows)}


async def test_the_attempt_of_a_deleted_delivery_is_dropped_and_the_rest_recorded(
    make_services: Any, clock: FakeClock, database_url: str
) -> None:
    services = await make_services(database_url=database_url)
    gone, kept = await claimed_deliveries(services, clock, 2)
    async with services.db.session() as session:
        await session.execute(delete(Delivery).where(Delivery.id == gone.id))
    assert await services.queue.record_attempts([ok(gone, clock), ok(kept, clock)]) == [
        False,
        True,
    ]
    assert await attempts_by_delivery(services) == {kept.id: 1}
    detail = await services.webhooks.delivery(kept.webhook.id, kept.id)
    assert detail.status is DeliveryStatus.SUCCESS


async def test_a_batch_naming_one_delivery_twice_changes_it_once(
    make_services: Any, clock: FakeClock, database_url: str
) -> None:
    services = await make_services(database_url=database_url)
    [claimed] = await claimed_deliveries(services, clock, 1)
    failed = AttemptRecord(
        claimed,
        AttemptResult(500),
        Verdict(DeliveryStatus.PENDING, clock.now + timedelta(seconds=5)),
        clock.now,
        1.0,
        "no",
        clock.now,
    )
    assert await services.queue.record_attempts([failed, ok(claimed, clock)]) == [True, False]
    detail = await services.webhooks.delivery(claimed.webhook.id, claimed.id)
    # The first record holds the lease and decides; both attempts happened and are kept.
    assert (detail.status, detail.attempts) == (DeliveryStatus.PENDING, 1)
    assert sorted(attempt.status_code for attempt in detail.attempt_log) == [200, 500]
