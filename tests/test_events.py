from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from ulid import ULID

from hookhub.clock import isoformat_z
from hookhub.events import Event, new_id

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def test_ids_sort_by_time() -> None:
    ids = [new_id(NOW + timedelta(milliseconds=step)) for step in (5, 1, 3)]
    assert sorted(ids) == [ids[1], ids[2], ids[0]]
    assert all(len(i) == 26 for i in ids)


def test_ids_are_ulids_of_their_moment() -> None:
    moments = [NOW, NOW + timedelta(milliseconds=1), datetime(2089, 1, 1, tzinfo=UTC)]
    for moment in moments:
        made = new_id(moment)
        parsed = ULID.from_str(made)  # the reference implementation reads it back
        assert str(parsed) == made
        assert parsed.datetime == moment
    same_moment = [new_id(NOW) for _ in range(1000)]
    assert sorted(same_moment) == same_moment  # made in one millisecond, still in order
    assert len(set(same_moment)) == 1000
    assert abs(ULID.from_str(new_id()).datetime - datetime.now(UTC)) < timedelta(minutes=1)


def test_event_round_trips_as_json() -> None:
    event = Event.create(
        type="ticket.created",
        payload={"title": "x", "n": 1},
        source="api",
        now=NOW,
        channel="user:42",
    )
    assert Event.from_json(event.to_json()) == event
    assert event.model_dump(mode="json")["occurred_at"] == "2026-11-22T12:00:00Z"


def test_a_bus_message_is_decoded_once_for_all_its_readers() -> None:
    message = Event.create(type="t", payload={"n": 1}, source="api", now=NOW).to_json()
    first = Event.from_json(message)
    assert Event.from_json(message) is first  # the hub, automations and dispatcher share it
    other = Event.create(type="t", payload={"n": 2}, source="api", now=NOW).to_json()
    assert Event.from_json(other).payload == {"n": 2}
    # Each subscriber reads in its own task: one may take a whole burst before the next runs.
    burst = [
        Event.create(type="t", payload={"n": n}, source="api", now=NOW).to_json()
        for n in range(256)
    ]
    decoded = [Event.from_json(data) for data in burst]
    assert all(Event.from_json(data) is event for data, event in zip(burst, decoded, strict=True))
    broken = message.replace(b'"type":"t"', b'"type":"has space"')
    for _ in range(2):  # a refusal is not remembered as an event
        with pytest.raises(ValidationError):
            Event.from_json(broken)


@pytest.mark.parametrize("bad_type", ["", "has space", "trailing.", ".leading", "a..b", "x" * 129])
def test_bad_types_are_refused(bad_type: str) -> None:
    with pytest.raises(ValidationError):
        Event.create(type=bad_type, payload={}, source="api", now=NOW)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Event(id=new_id(), type="a", payload={}, source="api", occurred_at=datetime(2026, 1, 1))


def test_isoformat_z_converts_to_utc() -> None:
    other_zone = datetime(2026, 1, 1, 3, 0, tzinfo=UTC) + timedelta(0)
    assert isoformat_z(other_zone.astimezone()) == "2026-01-01T03:00:00Z"
