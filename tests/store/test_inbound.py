"""The request history's dedupe claims on both databases: one winner per delivery id, even when
requests race from separate connections (as separate processes would), and expiry; and the
executions an accepted request starts, stored with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from hookhub.automations.models import ActionSpec
from hookhub.automations.repository import AutomationRepository, NewExecution, prepare
from hookhub.events import new_id
from hookhub.inbound.models import ManagedBy, Verdict
from hookhub.store.engine import Database
from hookhub.store.inbound import EndpointRepository, NewRequest, Recorded, RequestRepository
from hookhub.store.writes import HotWrites

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
WINDOW_S = 3600.0
ENDPOINT_FIELDS: dict[str, Any] = {
    "name": "e",
    "slug": "e",
    "description": None,
    "methods": ["POST"],
    "content_types": ["application/json"],
    "scheme": None,
    "secret": None,
    "bearer_token": None,
    "replay_protection": False,
    "tolerance_s": 300.0,
    "json_schema": None,
    "rate_limit": None,
    "dedupe_enabled": True,
    "dedupe_window_s": WINDOW_S,
    "dedupe_id_path": None,
    "max_body_bytes": None,
    "is_active": True,
}


def request(
    endpoint_id: str,
    delivery_id: str | None,
    at: datetime = NOW,
    *,
    executions: list[dict[str, Any]] | None = None,
) -> NewRequest:
    row = {
        "id": new_id(at),
        "endpoint_id": endpoint_id,
        "received_at": at,
        "method": "POST",
        "client_ip": "198.51.100.1",
        "status_code": 200,
        "verdict": Verdict.ACCEPTED,
        "reason": None,
        "headers": {},
        "query": {},
        "body": "{}",
        "body_bytes": 2,
        "body_truncated": False,
        "delivery_id": delivery_id,
        "execution_id": executions[0]["id"] if executions else None,
        "trigger": {"body": {}},
    }
    return NewRequest(row, WINDOW_S, executions or [])


Record = Callable[[Sequence[NewRequest]], Awaitable[list[Recorded]]]


@pytest.fixture(params=["repository", "shared writer"])
async def record(request: pytest.FixtureRequest, db: Database) -> AsyncIterator[Record]:
    """Requests recorded in one transaction: by the repository, or by the shared writer of a
    serving process (:class:`HotWrites`, which on SQLite first takes every id to be new)."""
    if request.param == "repository":
        yield RequestRepository(db).record
        return
    writes = HotWrites(db)

    async def together(items: Sequence[NewRequest]) -> list[Recorded]:
        # Queued before the writer runs: one batch.
        return list(await asyncio.gather(*(writes.record(item) for item in items)))

    yield together
    await writes.close()


async def endpoint(db: Database) -> str:
    created = await EndpointRepository(db).create(
        fields=ENDPOINT_FIELDS, managed_by=ManagedBy.API, now=NOW
    )
    return created.id


async def test_one_batch_claims_an_id_once(db: Database, record: Record) -> None:
    endpoint_id = await endpoint(db)
    repository = RequestRepository(db)
    first, second, other, anonymous = await record(
        [
            request(endpoint_id, "d1"),
            request(endpoint_id, "d1"),
            request(endpoint_id, "d2"),
            request(endpoint_id, None),
        ]
    )
    assert [r.verdict for r in (first, second, other, anonymous)] == [
        Verdict.ACCEPTED,
        Verdict.DUPLICATE,
        Verdict.ACCEPTED,
        Verdict.ACCEPTED,
    ]
    page = await repository.list(endpoint_id, verdict=Verdict.DUPLICATE, limit=10, offset=0)
    [duplicate] = page.items
    found = await repository.get(endpoint_id, duplicate.id)
    assert found is not None and found[1] is None  # a duplicate keeps no trigger to replay


async def test_concurrent_claims_from_separate_connections_have_one_winner(
    database_url: str,
) -> None:
    from hookhub.store.migrate import upgrade

    setup = Database(database_url)
    await upgrade(setup)
    endpoint_id = await endpoint(setup)
    # One Database (engine) per "process": PostgreSQL really runs the claims side by side.
    processes = [Database(database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(
                RequestRepository(db).record([request(endpoint_id, "same")])
                for db in processes
                for _ in range(3)
            )
        )
        verdicts = [recorded.verdict for [recorded] in results]
        assert verdicts.count(Verdict.ACCEPTED) == 1
        assert verdicts.count(Verdict.DUPLICATE) == len(verdicts) - 1
        winner = next(r for [r] in results if r.verdict is Verdict.ACCEPTED)
        assert winner.original_request_id is None
        holders = {r.original_request_id for [r] in results if r.verdict is Verdict.DUPLICATE}
        assert len(holders) == 1
    finally:
        for db in [setup, *processes]:
            await db.close()


async def test_an_expired_claim_is_taken_over_and_pruned(db: Database, record: Record) -> None:
    endpoint_id = await endpoint(db)
    repository = RequestRepository(db)
    later = NOW + timedelta(seconds=WINDOW_S)
    [first] = await record([request(endpoint_id, "d1")])
    [inside] = await record([request(endpoint_id, "d1", later - timedelta(seconds=1))])
    [after] = await record([request(endpoint_id, "d1", later)])
    assert [first.verdict, inside.verdict, after.verdict] == [
        Verdict.ACCEPTED,
        Verdict.DUPLICATE,
        Verdict.ACCEPTED,
    ]
    assert await repository.prune(now=later) == 0  # the taken-over claim runs to later + window
    assert await repository.prune(now=later + timedelta(seconds=WINDOW_S)) == 1


async def test_a_released_claim_frees_the_id(db: Database) -> None:
    endpoint_id = await endpoint(db)
    repository = RequestRepository(db)
    claim = request(endpoint_id, "d1")
    await repository.record([claim])
    await repository.release(endpoint_id, "d1", claim.row["id"])
    [again] = await repository.record([request(endpoint_id, "d1")])
    assert again.verdict is Verdict.ACCEPTED


async def execution_rows(db: Database, count: int) -> list[dict[str, Any]]:
    """Rows of ``count`` new executions of one automation, as the executor prepares them."""
    automation = await AutomationRepository(db).create(
        {
            "name": "a",
            "description": None,
            "status": "active",
            "filter": None,
            "trigger": {"endpoint": "e"},
            "actions": [{"name": "ping", "action": "ping", "params": {}}],
        },
        now=NOW,
    )
    item = NewExecution(
        automation_id=automation.id,
        trigger={"body": {}},
        plan=[ActionSpec(name="ping", action="ping")],
        request_id=None,
        depth=0,
        started_at=NOW,
    )
    return [prepare(item, owner="me", lease_until=NOW)[0] for _ in range(count)]


async def stored_execution_ids(db: Database) -> set[str]:
    async with db.transaction() as connection:
        found = await connection.execute(text("SELECT id FROM automation_executions"))
        return {row[0] for row in found}


async def test_executions_are_stored_with_their_request_unless_it_is_a_duplicate(
    db: Database, record: Record
) -> None:
    endpoint_id = await endpoint(db)
    repository = RequestRepository(db)
    first, repeat, other = [[row] for row in await execution_rows(db, 3)]
    results = await record(
        [
            request(endpoint_id, "d1", executions=first),
            request(endpoint_id, "d1", executions=repeat),
            request(endpoint_id, "d2", executions=other),
        ]
    )
    assert [r.verdict for r in results] == [Verdict.ACCEPTED, Verdict.DUPLICATE, Verdict.ACCEPTED]
    assert results[1].original_execution_id == first[0]["id"]
    assert await stored_execution_ids(db) == {first[0]["id"], other[0]["id"]}
    page = await repository.list(endpoint_id, verdict=None, limit=10, offset=0)
    assert {(item.verdict, item.execution_id) for item in page.items} == {
        (Verdict.ACCEPTED, first[0]["id"]),
        (Verdict.DUPLICATE, None),
        (Verdict.ACCEPTED, other[0]["id"]),
    }


async def test_repeats_in_a_later_batch_name_each_holder_and_its_execution(
    db: Database, record: Record
) -> None:
    endpoint_id = await endpoint(db)
    rows = [[row] for row in await execution_rows(db, 5)]
    one, two = request(endpoint_id, "d1", executions=rows[0]), request(endpoint_id, "d2")
    await record([one])
    await record([two])

    batch = [
        request(endpoint_id, "d2", executions=rows[1]),
        request(endpoint_id, "d3", executions=rows[2]),
        request(endpoint_id, "d1", executions=rows[3]),
        request(endpoint_id, "d3", executions=rows[4]),
    ]
    results = await record(batch)

    assert [(r.verdict, r.original_request_id, r.original_execution_id) for r in results] == [
        (Verdict.DUPLICATE, two.row["id"], None),  # its holder started nothing
        (Verdict.ACCEPTED, None, None),
        (Verdict.DUPLICATE, one.row["id"], rows[0][0]["id"]),
        (Verdict.DUPLICATE, batch[1].row["id"], rows[2][0]["id"]),  # held within the batch
    ]
    assert await stored_execution_ids(db) == {rows[0][0]["id"], rows[2][0]["id"]}


async def test_a_request_whose_executions_cannot_be_stored_is_not_stored_or_claimed(
    db: Database,
) -> None:
    endpoint_id = await endpoint(db)
    repository = RequestRepository(db)
    [row] = await execution_rows(db, 1)
    orphan = {**row, "automation_id": "no-such-automation"}
    with pytest.raises(IntegrityError):
        await repository.record([request(endpoint_id, "d1", executions=[orphan])])
    assert await stored_execution_ids(db) == set()
    assert (await repository.list(endpoint_id, verdict=None, limit=10, offset=0)).total == 0
    [again] = await repository.record([request(endpoint_id, "d1", executions=[row])])
    assert again.verdict is Verdict.ACCEPTED
    assert await stored_execution_ids(db) == {row["id"]}
