"""Outgoing deliveries end to end: services, a real receiver, and an injected clock."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from datetime import timedelta
from typing import Any

import orjson
import pytest
import standardwebhooks
import svix.webhooks

from hookhub.errors import ConflictError
from hookhub.outbound.models import WebhookCreate
from hookhub.services import Services
from tests.outbound.conftest import FakeClock, collect_events
from tests.outbound.receiver import Answer, Receiver

#: A 1800 s step of a retry schedule, at its most jittered (+20 %), plus a second.
LONGEST_1800_S_WAIT = 1800 * 1.2 + 1
PAYLOAD = {"user_id": 123, "username": "testuser", "referred_by_id": None, "note": "Ünïcode ✓"}


async def add_webhook(services: Services, url: str, **fields: Any) -> tuple[str, str]:
    body = {"name": "hook", "url": url, "event_type": "user.created", **fields}
    created = await services.webhooks.create(WebhookCreate(**body))
    return created.id, created.secret


async def dispatch(services: Services) -> int:
    started = await services.dispatcher.run_once()
    await services.dispatcher.drain()
    return started


async def eventually(condition: Any, timeout_s: float = 10.0) -> None:
    """Poll ``condition`` until true; fail after ``timeout_s`` (a deadline, not a timing claim)."""
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("condition never became true")


def seed_receiver_verifies(payload: dict[str, Any], header: str, secret: str) -> bool:
    # Seed 004's receiver: re-serialise the parsed payload with sort_keys, HMAC, compare.
    payload_json = json.dumps(payload, sort_keys=True)
    expected = hmac.new(secret.encode("utf-8"), payload_json.encode("utf-8"), hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), header.replace("sha256=", ""))


async def test_delivery_carries_seed_and_standard_webhooks_signatures(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services()
    webhook_id, secret = await add_webhook(
        services, receiver.url, secret="optional-secret-for-signing"
    )
    event = await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    assert await dispatch(services) == 1

    [request] = receiver.requests
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["x-webhook-event"] == "user.created"
    assert headers["x-webhook-id"] == webhook_id
    assert request.body == json.dumps(PAYLOAD, sort_keys=True).encode()
    assert seed_receiver_verifies(json.loads(request.body), headers["x-webhook-signature"], secret)
    # A plain (non-whsec) secret is its own key, as UTF-8, for Standard Webhooks too.
    assert standardwebhooks.Webhook(secret.encode()).verify(request.body, headers) == PAYLOAD

    page = await services.webhooks.deliveries(webhook_id, status=None, limit=10, offset=0)
    [delivery] = page.items
    assert delivery.status == "success"
    assert delivery.event_id == event.id
    assert headers["webhook-id"] == delivery.id
    detail = await services.webhooks.delivery(webhook_id, delivery.id)
    assert [a.status_code for a in detail.attempt_log] == [200]
    assert detail.attempt_log[0].response_excerpt == "ok"
    assert detail.attempt_log[0].latency_ms is not None


async def test_generated_secret_verifies_with_both_pypi_libraries(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services()
    _webhook_id, secret = await add_webhook(services, receiver.url)
    assert secret.startswith("whsec_")
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(services)
    [request] = receiver.requests
    assert standardwebhooks.Webhook(secret).verify(request.body, request.headers) == PAYLOAD
    svix.webhooks.Webhook(secret).verify(request.body, request.headers)
    assert seed_receiver_verifies(PAYLOAD, request.headers["x-webhook-signature"], secret)


async def test_one_event_fans_out_to_every_matching_active_webhook(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services()
    exact, _ = await add_webhook(services, receiver.url, event_type="ticket.created")
    prefix, _ = await add_webhook(services, receiver.url, event_type="ticket.*")
    everything, _ = await add_webhook(services, receiver.url, event_type="*")
    await add_webhook(services, receiver.url, event_type="ticket.updated")
    await add_webhook(services, receiver.url, event_type="ticket.*", is_active=False)
    await services.publisher.publish(type="ticket.created", payload={"id": 1}, source="test")
    assert await dispatch(services) == 3
    assert {r.headers["x-webhook-id"] for r in receiver.requests} == {exact, prefix, everything}


async def test_failures_retry_on_the_schedule_with_the_same_webhook_id(
    make_services: Any, receiver: Receiver, clock: FakeClock
) -> None:
    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url)
    receiver.script.extend([Answer(500), Answer(503), Answer(200)])
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")

    assert await dispatch(services) == 1
    [pending] = (
        await services.webhooks.deliveries(webhook_id, status=None, limit=5, offset=0)
    ).items
    assert pending.status == "pending"
    assert pending.next_retry_at is not None
    wait_s = (pending.next_retry_at - clock.now).total_seconds()
    assert 4 <= wait_s <= 6  # 5 s ± 20 %

    assert await dispatch(services) == 0  # not due yet: nothing is sent early
    clock.advance(6)
    assert await dispatch(services) == 1
    [second] = (
        await services.webhooks.deliveries(webhook_id, status=None, limit=5, offset=0)
    ).items
    assert 240 <= (second.next_retry_at - clock.now).total_seconds() <= 360  # type: ignore[operator]
    clock.advance(361)
    assert await dispatch(services) == 1
    [done] = (await services.webhooks.deliveries(webhook_id, status=None, limit=5, offset=0)).items
    assert done.status == "success"
    assert done.attempts == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len({r.headers["webhook-timestamp"] for r in receiver.requests}) == 3


async def test_retries_run_out_into_failed(
    make_services: Any, receiver: Receiver, clock: FakeClock
) -> None:
    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url, retry_schedule_s=[1, 1])
    receiver.default = Answer(500)
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    for _ in range(3):
        await dispatch(services)
        clock.advance(2)
    [failed] = (
        await services.webhooks.deliveries(webhook_id, status=None, limit=5, offset=0)
    ).items
    assert failed.status == "failed"
    assert failed.attempts == 3
    assert failed.next_retry_at is None
    assert await dispatch(services) == 0


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(
    make_services: Any, receiver: Receiver, clock: FakeClock, status: int
) -> None:
    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url)
    receiver.script.append(Answer(status, headers={"Retry-After": "120"}))
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(services)
    [pending] = (
        await services.webhooks.deliveries(webhook_id, status=None, limit=5, offset=0)
    ).items
    assert pending.next_retry_at == clock.now + timedelta(seconds=120)
    clock.advance(119)
    assert await dispatch(services) == 0
    clock.advance(1)
    assert await dispatch(services) == 1


async def test_gone_disables_the_webhook_and_publishes_webhook_disabled(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url)
    watcher, _ = await add_webhook(services, receiver.url, event_type="webhook.*")
    seen = await collect_events(services)
    receiver.decide = lambda r: Answer(410) if r.headers["x-webhook-id"] == webhook_id else Answer()
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(services)

    webhook = await services.webhooks.get(webhook_id)
    assert not webhook.is_active
    assert webhook.disabled_reason is not None and "410" in webhook.disabled_reason
    [failed] = (
        await services.webhooks.deliveries(webhook_id, status=None, limit=5, offset=0)
    ).items
    assert failed.status == "failed"
    await asyncio.sleep(0)  # let the bus hand the event over
    types = [orjson.loads(m)["type"] for m in seen]
    assert "webhook.disabled" in types
    # webhook.disabled reaches other subscribers (here, a webhook on webhook.*).
    await dispatch(services)
    disabled_notice = [r for r in receiver.requests if r.headers["x-webhook-id"] == watcher]
    notice = json.loads(disabled_notice[0].body)
    assert notice["webhook_id"] == webhook_id
    # Scheme and host only: the URL's path or query may hold a token.
    assert notice["host"] == f"http://127.0.0.1:{receiver.port}"
    assert "url" not in notice
    # A disabled webhook gets nothing more.
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    assert await dispatch(services) == 0


async def test_only_failures_for_the_window_disable_the_webhook(
    make_services: Any, receiver: Receiver, clock: FakeClock
) -> None:
    services = await make_services(outbound_disable_after_s=3600)
    webhook_id, _ = await add_webhook(services, receiver.url, retry_schedule_s=[1800] * 5)
    receiver.default = Answer(500)
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(services)
    assert (await services.webhooks.get(webhook_id)).failing_since == clock.now
    clock.advance(LONGEST_1800_S_WAIT)
    assert await dispatch(services) == 1
    assert (await services.webhooks.get(webhook_id)).is_active
    clock.advance(LONGEST_1800_S_WAIT)
    await dispatch(services)
    webhook = await services.webhooks.get(webhook_id)
    assert not webhook.is_active
    assert webhook.disabled_reason is not None and "only failures" in webhook.disabled_reason


async def test_a_success_resets_the_failure_window(
    make_services: Any, receiver: Receiver, clock: FakeClock
) -> None:
    services = await make_services(outbound_disable_after_s=3600)
    webhook_id, _ = await add_webhook(services, receiver.url, retry_schedule_s=[1800] * 5)
    receiver.script.extend([Answer(500), Answer(200)])
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(services)
    clock.advance(LONGEST_1800_S_WAIT)
    assert await dispatch(services) == 1
    assert (await services.webhooks.get(webhook_id)).failing_since is None


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    make_services: Any, receiver: Receiver, clock: FakeClock
) -> None:
    services = await make_services(outbound_rotation_overlap_s=3600)
    webhook_id, old = await add_webhook(services, receiver.url)
    rotated = await services.webhooks.rotate_secret(webhook_id, None, actor="test", request_id=None)
    new = rotated.secret
    assert new != old

    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(services)
    request = receiver.requests[-1]
    for secret in (old, new):
        assert standardwebhooks.Webhook(secret).verify(request.body, request.headers) == PAYLOAD
    assert seed_receiver_verifies(PAYLOAD, request.headers["x-webhook-signature"], new)
    assert seed_receiver_verifies(PAYLOAD, request.headers["x-webhook-signature-previous"], old)

    clock.advance(3601)
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(services)
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert "x-webhook-signature-previous" not in request.headers
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(old).verify(request.body, request.headers)
    audit = await services.audit.list(action="secret.rotated", limit=5, offset=0)
    assert [entry.target for entry in audit.items] == [webhook_id]


async def test_send_time_ssrf_check_refuses_without_sending(
    make_services: Any, receiver: Receiver
) -> None:
    permissive = await make_services()
    webhook_id, _ = await add_webhook(permissive, receiver.url)
    await permissive.stop()
    strict = await make_services(outbound_allow_private=False)
    await strict.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(strict)
    assert receiver.requests == []
    [attempted] = (
        await strict.webhooks.deliveries(webhook_id, status=None, limit=5, offset=0)
    ).items
    assert attempted.last_error is not None and "forbidden address" in attempted.last_error


async def test_a_slow_webhook_is_capped_and_does_not_starve_another(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services()
    slow_id, _ = await add_webhook(services, receiver.url, event_type="slow", max_concurrency=2)
    fast_id, _ = await add_webhook(services, receiver.url, event_type="fast")
    held = threading.Event()

    def decide(request: Any) -> Answer:
        return Answer(gate=held) if request.headers["x-webhook-id"] == slow_id else Answer()

    receiver.decide = decide
    for _ in range(6):
        await services.publisher.publish(type="slow", payload={}, source="test")
    assert await services.dispatcher.run_once() == 2  # capped; four handed back, not leased
    await eventually(lambda: receiver.in_flight == 2)  # both slow requests are held open
    assert await services.dispatcher.run_once() == 0  # still capped while they hang
    await services.publisher.publish(type="fast", payload={}, source="test")
    assert await services.dispatcher.run_once() == 1  # another webhook is not starved
    fast = await services.webhooks.deliveries(fast_id, status=None, limit=5, offset=0)
    for _ in range(500):
        fast = await services.webhooks.deliveries(fast_id, status=None, limit=5, offset=0)
        if fast.items[0].status == "success":
            break
        await asyncio.sleep(0.01)
    assert fast.items[0].status == "success"  # while the slow ones are still held
    assert receiver.in_flight == 2
    held.set()
    await services.dispatcher.drain()
    while await dispatch(services):
        pass
    slow = await services.webhooks.deliveries(slow_id, status="success", limit=10, offset=0)
    assert slow.total == 6
    assert receiver.max_in_flight == 3  # two slow at most, plus the fast one


async def test_a_backlog_drains_without_waiting_for_the_poll(
    make_services: Any, receiver: Receiver
) -> None:
    # A poll far longer than the test: only wake-ups (a slot freed, an event) move the queue.
    services = await make_services(outbound_poll_interval_s=600)
    webhook_id, _ = await add_webhook(services, receiver.url, max_concurrency=1)
    for n in range(20):
        await services.publisher.publish(type="user.created", payload={"n": n}, source="test")
    await services.dispatcher.start(services.bus)
    for _ in range(1000):
        page = await services.webhooks.deliveries(webhook_id, status="success", limit=1, offset=0)
        if page.total == 20:
            break
        await asyncio.sleep(0.01)
    assert page.total == 20
    assert receiver.max_in_flight == 1


async def test_a_claim_whose_lease_ran_out_cannot_overwrite_the_next(
    make_services: Any, receiver: Receiver, clock: FakeClock
) -> None:
    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url)
    receiver.default = Answer(500)
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    lease = timedelta(seconds=60)
    [stale] = await services.queue.claim_due(now=clock.now, lease_until=clock.now + lease, limit=1)
    clock.advance(61)  # the first dispatcher stalled past its lease; a second one claims
    [current] = await services.queue.claim_due(
        now=clock.now, lease_until=clock.now + lease, limit=1
    )
    assert current.id == stale.id and current.lease_token != stale.lease_token
    await services.dispatcher.deliver(stale)  # a failure, recorded too late
    [after_stale] = (
        await services.webhooks.deliveries(webhook_id, status=None, limit=1, offset=0)
    ).items
    assert (after_stale.status, after_stale.attempts) == ("pending", 0)
    receiver.default = Answer(200)
    await services.dispatcher.deliver(current)
    detail = await services.webhooks.delivery(webhook_id, current.id)
    assert (detail.status, detail.attempts) == ("success", 1)
    assert [a.status_code for a in detail.attempt_log] == [500, 200]  # both attempts are logged


async def test_a_claim_whose_lease_ran_out_cannot_release_the_next(
    make_services: Any, receiver: Receiver, clock: FakeClock, database_url: str
) -> None:
    services = await make_services(database_url=database_url)
    await add_webhook(services, receiver.url)
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    lease = timedelta(seconds=60)
    [stale] = await services.queue.claim_due(now=clock.now, lease_until=clock.now + lease, limit=1)
    clock.advance(61)
    [current] = await services.queue.claim_due(
        now=clock.now, lease_until=clock.now + lease, limit=1
    )
    await services.queue.release([stale])  # the first dispatcher stops, late
    # The second one still holds it: no third claim gets the delivery while it is sent.
    assert (
        await services.queue.claim_due(now=clock.now, lease_until=clock.now + lease, limit=1) == []
    )
    await services.queue.release([current])
    [again] = await services.queue.claim_due(now=clock.now, lease_until=clock.now + lease, limit=1)
    assert again.id == current.id


async def test_a_claim_takes_the_oldest_due_first_with_their_events(
    make_services: Any, clock: FakeClock, database_url: str
) -> None:
    services = await make_services(database_url=database_url)
    first, _ = await add_webhook(services, "http://127.0.0.1:9/a", event_type="*")
    other, _ = await add_webhook(services, "http://127.0.0.1:9/b", event_type="*")
    published = []
    for n in range(4):
        event = await services.publisher.publish(
            type=f"order.n{n}", payload={"n": n}, source="test"
        )
        published.append(event)
        clock.advance(1)  # each event due a second after the one before
    lease = timedelta(seconds=60)
    claimed = await services.queue.claim_due(
        now=clock.now, lease_until=clock.now + lease, limit=3, exclude_webhooks=[other]
    )
    assert [(c.webhook.id, c.event_id) for c in claimed] == [
        (first, event.id) for event in published[:3]
    ]
    for claim, event in zip(claimed, published[:3], strict=True):
        assert (claim.event_type, claim.payload, claim.occurred_at) == (
            event.type,
            event.payload,
            event.occurred_at,
        )
        assert claim.attempts == 0 and claim.webhook.url == "http://127.0.0.1:9/a"
    # Those three stay leased: the next claim gets every other delivery, oldest first.
    rest = await services.queue.claim_due(now=clock.now, lease_until=clock.now + lease, limit=10)
    # (Deliveries of one event are due at the same moment, in no set order.)
    assert [c.event_id for c in rest] == [event.id for event in published[:3]] + [
        published[3].id
    ] * 2
    assert {(c.webhook.id, c.event_id) for c in rest} == {
        (other, event.id) for event in published
    } | {(first, published[3].id)}
    assert len({c.lease_token for c in rest}) == 1 != len({c.lease_token for c in claimed + rest})


async def test_resend_and_recover_on_a_disabled_webhook_are_refused(
    make_services: Any, receiver: Receiver
) -> None:
    from hookhub.outbound.models import WebhookUpdate

    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url)
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(services)
    [delivery] = (
        await services.webhooks.deliveries(webhook_id, status=None, limit=1, offset=0)
    ).items
    await services.webhooks.update(
        webhook_id, WebhookUpdate(is_active=False), actor="test", request_id=None
    )
    with pytest.raises(ConflictError, match="disabled"):
        await services.webhooks.resend(webhook_id, delivery.id)
    with pytest.raises(ConflictError, match="disabled"):
        await services.webhooks.recover(webhook_id, since=delivery.created_at, until=None)


async def test_resend_and_recover_keep_the_webhook_id(
    make_services: Any, receiver: Receiver, clock: FakeClock
) -> None:
    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url, retry_schedule_s=[1])
    receiver.default = Answer(500)
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(services)
    clock.advance(2)
    await dispatch(services)
    [failed] = (
        await services.webhooks.deliveries(webhook_id, status="failed", limit=5, offset=0)
    ).items

    receiver.default = Answer(200)
    since = failed.created_at - timedelta(seconds=1)
    assert await services.webhooks.recover(webhook_id, since=since, until=None) == 1
    await dispatch(services)
    resent = await services.webhooks.resend(webhook_id, failed.id)
    assert resent.status == "pending"
    await dispatch(services)
    assert {r.headers["webhook-id"] for r in receiver.requests} == {failed.id}
    assert len(receiver.requests) == 4
    stats = await services.webhooks.stats(webhook_id)
    assert (stats.success, stats.failed, stats.pending) == (1, 0, 0)
    assert stats.last_success_at is not None and stats.last_failure_at is not None
    assert stats.latency_p50_ms is not None and stats.latency_p95_ms is not None


async def test_send_test_returns_the_attempt(make_services: Any, receiver: Receiver) -> None:
    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url, event_type="nothing.matches")
    detail = await services.webhooks.send_test(webhook_id)
    assert detail.status == "success"
    assert detail.event_type == "webhook.test"
    assert [a.status_code for a in detail.attempt_log] == [200]
    [request] = receiver.requests
    assert request.headers["x-webhook-event"] == "webhook.test"


async def test_a_slow_receiver_times_out_into_a_retry(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services(outbound_timeout_s=0.3)
    webhook_id, _ = await add_webhook(services, receiver.url)
    receiver.default = Answer(delay_s=2)
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(services)
    [pending] = (
        await services.webhooks.deliveries(webhook_id, status=None, limit=5, offset=0)
    ).items
    assert pending.status == "pending"
    assert pending.last_error is not None and pending.last_error.startswith("timeout")
    assert pending.last_status_code is None


async def test_metrics_count_attempts_per_webhook(make_services: Any, receiver: Receiver) -> None:
    from prometheus_client import generate_latest

    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url)
    receiver.script.append(Answer(500))
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(services)
    text = generate_latest(services.metrics.registry).decode()
    assert f'hookhub_webhook_attempts_total{{outcome="5xx",webhook_id="{webhook_id}"}} 1.0' in text
    labels = {"webhook_id": webhook_id}
    value = services.metrics.registry.get_sample_value
    failed_at = services.clock().timestamp()
    assert value("hookhub_webhook_last_failure_timestamp_seconds", labels) == failed_at
    assert value("hookhub_webhook_last_success_timestamp_seconds", labels) is None
    assert value("hookhub_webhook_attempt_duration_seconds_count", labels) == 1
    services.clock.advance(10)  # the retry comes due
    await dispatch(services)
    assert (
        value("hookhub_webhook_last_success_timestamp_seconds", labels)
        == services.clock().timestamp()
    )
    assert value("hookhub_webhook_last_failure_timestamp_seconds", labels) == failed_at
    assert value("hookhub_webhook_attempt_duration_seconds_count", labels) == 2


async def test_deleting_a_webhook_mid_send_records_nothing_and_raises_nothing(
    make_services: Any, receiver: Receiver, clock: FakeClock
) -> None:
    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url)
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    [claimed] = await services.queue.claim_due(
        now=clock.now, lease_until=clock.now + timedelta(seconds=60), limit=5
    )
    with pytest.raises(ConflictError, match="being sent"):
        await services.webhooks.resend(webhook_id, claimed.id)
    await services.webhooks.delete(webhook_id)
    await services.dispatcher.deliver(claimed)  # the attempt's row has no delivery to join
    assert len(receiver.requests) == 1
    stats = await services.webhooks.overall_stats()
    assert (stats.total, stats.webhooks) == (0, 0)


async def test_a_short_secret_is_never_listed_whole(make_services: Any, receiver: Receiver) -> None:
    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url, secret="8chars!!")
    shown = (await services.webhooks.get(webhook_id)).secret_prefix
    assert shown == "8cha…"
    generated_id, generated = await add_webhook(services, receiver.url)
    assert (await services.webhooks.get(generated_id)).secret_prefix == generated[:10] + "…"


async def test_test_sends_are_not_raced_by_a_running_dispatcher(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services(outbound_poll_interval_s=0.001)
    await services.dispatcher.start(services.bus)
    webhook_id, _ = await add_webhook(services, receiver.url)
    for _ in range(20):
        detail = await services.webhooks.send_test(webhook_id)
        assert detail.status == "success"
    assert len(receiver.requests) == 20  # each test send went out exactly once


async def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(
    make_services: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ipaddress

    from hookhub.outbound import ssrf

    looked_up: list[str] = []

    async def fake_resolve(host: str, port: int) -> list[ssrf.IPAddress]:
        # A name only our guard can resolve: were httpx to look it up again, it would fail.
        looked_up.append(host)
        return [ipaddress.ip_address("::1"), ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(ssrf, "resolve", fake_resolve)
    services = await make_services()
    url = f"http://hooks.example.invalid:{receiver.port}/hook"
    webhook_id, _ = await add_webhook(services, url)
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await dispatch(services)
    [request] = receiver.requests  # ::1 refused (the receiver is on 127.0.0.1), then 127.0.0.1
    assert request.headers["host"] == f"hooks.example.invalid:{receiver.port}"
    assert looked_up == ["hooks.example.invalid", "hooks.example.invalid"]  # create, then send
    [done] = (await services.webhooks.deliveries(webhook_id, status=None, limit=5, offset=0)).items
    assert done.status == "success"


def test_pinned_keeps_the_name_for_host_and_sni() -> None:
    import ipaddress

    from hookhub.outbound.sender import pinned

    url, headers, extensions = pinned(
        "https://hooks.example.com/path?q=1", ipaddress.ip_address("93.184.216.34")
    )
    assert url == "https://93.184.216.34/path?q=1"
    assert headers == {"Host": "hooks.example.com"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    v6, v6_headers, _ = pinned("http://h.example:8080/x", ipaddress.ip_address("2001:db8::1"))
    assert v6 == "http://[2001:db8::1]:8080/x"
    assert v6_headers == {"Host": "h.example:8080"}
    _, idna_headers, idna_extensions = pinned(
        "https://пример.рф/hook", ipaddress.ip_address("93.184.216.34")
    )
    assert idna_headers == {"Host": "xn--e1afmkfd.xn--p1ai"}
    assert idna_extensions == {"sni_hostname": "xn--e1afmkfd.xn--p1ai"}
    assert pinned("http://10.0.0.1/x", ipaddress.ip_address("10.0.0.1")) == (
        "http://10.0.0.1/x",
        {},
        {},
    )


async def test_stopping_as_the_loop_is_woken_still_stops(make_services: Any) -> None:
    services = await make_services()
    dispatcher = services.dispatcher
    await dispatcher.start(services.bus)
    # The loop has claimed nothing and waits for a wake-up.
    await eventually(lambda: bool(dispatcher._wake._waiters))
    loop = dispatcher._loop
    assert loop is not None and not loop.done()
    dispatcher.wake()  # the wake-up and the cancellation land in the same turn of the loop
    stopping = asyncio.create_task(dispatcher.stop())
    done, _ = await asyncio.wait([stopping], timeout=5)  # a guard against hanging, not a pace
    stopping.cancel()
    assert stopping in done and loop.done()


async def test_stopping_hands_back_the_leases_of_cancelled_sends(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url)
    held = threading.Event()
    receiver.default = Answer(gate=held)
    await services.publisher.publish(type="user.created", payload=PAYLOAD, source="test")
    await services.dispatcher.start(services.bus)
    await eventually(lambda: receiver.in_flight == 1)
    await services.dispatcher.stop(grace_s=0.05)
    held.set()
    async with services.db.session() as session:
        from sqlalchemy import select

        from hookhub.store.models import Delivery

        lease = await session.scalar(select(Delivery.lease_until))
    assert lease is None  # claimable again at once, not after the lease runs out
    [pending] = (
        await services.webhooks.deliveries(webhook_id, status=None, limit=1, offset=0)
    ).items
    assert pending.status == "pending"
