"""Channel history on both implementations: offsets, epochs, trimming, recovery, dedupe."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from hookhub.realtime.history import Entry, History, MemoryHistory, RedisHistory
from hookhub.realtime.protocol import Position

MakeHistory = Callable[..., History]


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_history(request: pytest.FixtureRequest) -> AsyncIterator[MakeHistory]:
    made: list[History] = []
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    prefix = f"hookhub-test-{uuid.uuid4().hex}:"

    def make(size: int = 3) -> History:
        history: History
        if redis_url is None:
            history = MemoryHistory(size=size, ttl_s=60, monotonic=FakeMonotonic())
        else:
            history = RedisHistory(redis_url, size=size, ttl_s=60, key_prefix=prefix)
        made.append(history)
        return history

    yield make
    for history in made:
        await history.close()


async def test_offsets_increase_within_one_epoch(make_history: MakeHistory) -> None:
    history = make_history()
    start = await history.position("c")
    assert start is not None and start.offset == 0
    first = await history.append("c", b'{"n":1}', message_id="m1")
    second = await history.append("c", b'{"n":2}', message_id="m2")
    assert first == Position(1, start.epoch)
    assert second == Position(2, start.epoch)
    assert await history.position("c") == second
    other = await history.position("other")
    assert other is not None and other.epoch != start.epoch


async def test_the_same_message_id_is_kept_once(make_history: MakeHistory) -> None:
    history = make_history()
    one = await history.append("c", b"a", message_id="same")
    again = await history.append("c", b"a", message_id="same")
    assert one == again
    recovery = await history.recover("c", Position(0, one.epoch))
    assert recovery.entries == [Entry(1, b"a")]


async def test_recovery_returns_what_was_missed_in_order(make_history: MakeHistory) -> None:
    history = make_history()
    for n in range(1, 4):
        last = await history.append("c", f"m{n}".encode(), message_id=f"id{n}")
    recovery = await history.recover("c", Position(1, last.epoch))
    assert recovery.recovered
    assert recovery.entries == [Entry(2, b"m2"), Entry(3, b"m3")]
    assert recovery.position == last
    nothing = await history.recover("c", last)
    assert nothing.recovered and nothing.entries == []


async def test_recovery_fails_once_history_no_longer_reaches(
    make_history: MakeHistory,
) -> None:
    history = make_history(size=3)
    for n in range(1, 6):
        last = await history.append("c", f"m{n}".encode(), message_id=f"id{n}")
    # Kept: 3, 4, 5. From offset 2 nothing is lost; from offset 1, message 2 is.
    reaches = await history.recover("c", Position(2, last.epoch))
    assert reaches.recovered and [e.offset for e in reaches.entries] == [3, 4, 5]
    lost = await history.recover("c", Position(1, last.epoch))
    assert not lost.recovered and lost.entries == []
    assert lost.position == last


async def test_another_epoch_or_a_future_offset_is_not_recovered(make_history: MakeHistory) -> None:
    history = make_history()
    last = await history.append("c", b"x", message_id="a")
    assert not (await history.recover("c", Position(0, "other-epoch"))).recovered
    assert not (await history.recover("c", Position(9, last.epoch))).recovered


async def test_size_zero_turns_history_off(make_history: MakeHistory) -> None:
    history = make_history(size=0)
    assert await history.append("c", b"x", message_id="a") is None
    assert await history.position("c") is None
    assert not (await history.recover("c", Position(0, "e"))).recovered


async def test_memory_history_expires_into_a_new_epoch() -> None:
    clock = FakeMonotonic()
    history = MemoryHistory(size=10, ttl_s=60, monotonic=clock)
    old = await history.append("c", b"x", message_id="a")
    clock.now += 61
    assert not (await history.recover("c", old)).recovered
    new = await history.append("c", b"y", message_id="b")
    assert new is not None and old is not None
    assert new.epoch != old.epoch and new.offset == 1
    clock.now += 61
    assert history.sweep() == 1
