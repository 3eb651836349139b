"""Ticket numbers: sequential and distinct under concurrent creates, on both databases."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import delete, text

from hookhub.services import Services
from hookhub.store.ticket_tables import TicketCounter

#: A deadline for the blocked create to show up as waiting (it takes milliseconds).
WAIT_S = 10.0


async def create(services: Services, title: str) -> dict[str, Any]:
    return await services.tickets.create({"title": title}, actor="test")


async def test_concurrent_creates_from_two_processes_get_distinct_numbers(
    make_services: Any, database_url: str
) -> None:
    # Two Services on one database: two connection pools, as two hookhub processes have.
    first = await make_services(database_url=database_url)
    second = await make_services(database_url=database_url)
    created = await asyncio.gather(
        *(create(services, f"t{i}") for i, services in enumerate([first, second] * 10))
    )
    assert sorted(ticket["number"] for ticket in created) == list(range(1, 21))
    assert (await first.tickets.list(limit=50, offset=0)).total == 20


async def test_a_create_waits_for_one_in_flight_on_postgres(
    make_services: Any, postgres_url: str
) -> None:
    """A create that starts while another holds the counter takes the number after it."""
    services: Services = await make_services(database_url=postgres_url)
    async with services.db.engine.connect() as holder:
        await holder.begin()
        await holder.execute(text("UPDATE ticket_counter SET last_number = last_number + 1"))
        waiting = asyncio.create_task(create(services, "second"))
        await _until_a_backend_waits_for_a_lock(services)
        assert not waiting.done()
        await holder.commit()
    ticket = await waiting
    assert ticket["number"] == 2


async def test_a_rolled_back_create_gives_its_number_back_on_postgres(
    make_services: Any, postgres_url: str
) -> None:
    services: Services = await make_services(database_url=postgres_url)
    async with services.db.engine.connect() as holder:
        await holder.begin()
        await holder.execute(text("UPDATE ticket_counter SET last_number = last_number + 1"))
        waiting = asyncio.create_task(create(services, "first"))
        await _until_a_backend_waits_for_a_lock(services)
        await holder.rollback()
    assert (await waiting)["number"] == 1


async def _until_a_backend_waits_for_a_lock(services: Services) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        async with services.db.engine.connect() as probe:
            waiting = await probe.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second create never waited for the counter's row lock")


async def test_without_the_counter_row_numbering_goes_on_after_the_highest(
    make_services: Any, database_url: str
) -> None:
    services: Services = await make_services(database_url=database_url)
    await create(services, "one")
    await create(services, "two")
    async with services.db.transaction() as connection:
        await connection.execute(delete(TicketCounter))
    assert (await create(services, "three"))["number"] == 3
    assert (await create(services, "four"))["number"] == 4
