from hookhub.outbound.limits import TokenBucket, WebhookSlots, bucket_for


def test_bucket_starts_full_and_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate_per_s=2, burst=2)
    assert bucket.take(0.0)
    assert bucket.take(0.0)
    assert not bucket.take(0.0)
    assert not bucket.take(0.4)
    assert bucket.take(0.5)
    assert bucket.available(100.0) == 2  # never above the burst


def test_slots_cap_concurrency_and_rate() -> None:
    slots = WebhookSlots(max_concurrency=3, bucket=None)
    assert slots.capacity(0) == 3
    slots.start(0)
    slots.start(0)
    assert slots.capacity(0) == 1
    slots.finish()
    assert slots.capacity(0) == 2

    limited = WebhookSlots(max_concurrency=10, bucket=TokenBucket(rate_per_s=1, burst=1))
    assert limited.capacity(0) == 1
    limited.start(0)
    limited.finish()
    assert limited.capacity(0.5) == 0
    assert limited.capacity(1.0) == 1


def test_bucket_for_covers_a_poll_interval() -> None:
    assert bucket_for(None, 1.0) is None
    bucket = bucket_for(20, 0.5)
    assert bucket is not None and bucket.burst == 10
    slow = bucket_for(0.1, 1.0)
    assert slow is not None and slow.burst == 1
