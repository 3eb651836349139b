"""Group commit: closing the writer finishes the write under way instead of cutting it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from hookhub.batching import GroupCommit
from hookhub.errors import StoreError
from hookhub.store.engine import Database


@pytest.fixture
async def plain_db(sqlite_url: str) -> Database:
    database = Database(sqlite_url)
    async with database.transaction() as connection:
        await connection.execute(text("CREATE TABLE items (n INTEGER)"))
    return database


async def _stored(db: Database) -> list[int]:
    async with db.transaction() as connection:
        return list((await connection.scalars(text("SELECT n FROM items ORDER BY n"))).all())


async def test_closing_commits_the_batch_being_written_and_what_was_queued(
    plain_db: Database,
) -> None:
    in_transaction = asyncio.Event()
    go_on = asyncio.Event()

    async def write(items: list[int]) -> list[int]:
        async with plain_db.transaction() as connection:
            rows = [{"n": n} for n in items]
            await connection.execute(text("INSERT INTO items VALUES (:n)"), rows)
            in_transaction.set()
            await go_on.wait()
        return items

    commits: GroupCommit[int, int] = GroupCommit(write, name="test-writer")
    try:
        first = asyncio.create_task(commits.submit(1))
        await in_transaction.wait()  # the writer is inside its transaction
        queued = asyncio.create_task(commits.submit(2))
        await asyncio.sleep(0)
        closing = asyncio.create_task(commits.close())
        await asyncio.sleep(0)
        assert not closing.done()  # it waits for the write instead of cancelling it
        go_on.set()
        await closing
        assert await first == 1
        assert await queued == 2
        assert await _stored(plain_db) == [1, 2]
        # The store takes the next write at once: nothing was left holding its lock.
        async with plain_db.transaction() as connection:
            await connection.execute(text("INSERT INTO items VALUES (3)"))
        assert await _stored(plain_db) == [1, 2, 3]
    finally:
        await plain_db.close()


async def test_closing_gives_up_on_a_write_that_does_not_end() -> None:
    async def stuck(items: list[int]) -> list[int]:
        await asyncio.Event().wait()  # a store that never answers
        return items

    commits: GroupCommit[int, int] = GroupCommit(stuck, name="test-writer")
    waiting = asyncio.create_task(commits.submit(1))
    await asyncio.sleep(0)
    await commits.close(timeout_s=0.01)
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_write_submitted_while_closing_is_refused_and_closing_still_ends() -> None:
    release = asyncio.Event()
    written: list[int] = []

    async def write(items: list[int]) -> list[int]:
        await release.wait()
        written.extend(items)
        return items

    commits: GroupCommit[int, int] = GroupCommit(write, name="test-writer")
    first = asyncio.create_task(commits.submit(1))
    await asyncio.sleep(0)  # the writer has taken the first item and waits in its write
    closing = asyncio.create_task(commits.close(timeout_s=60))
    await asyncio.sleep(0)
    with pytest.raises(StoreError):
        await commits.submit(2)
    release.set()
    # A deadline for the close, not a timing claim: a second writer started by the late
    # submit took the stop marker, and the first then waited out the whole 60 s.
    await asyncio.wait_for(closing, 10)
    assert await first == 1
    assert written == [1]
    # Closed, the writer starts again on the next submit (services stopped and started).
    assert await commits.submit(3) == 3
    await commits.close()


async def test_items_queued_without_waiting_are_written_in_order_and_settle_their_futures() -> None:
    written: list[list[int]] = []
    gate = asyncio.Event()

    async def write(items: list[int]) -> list[int]:
        await gate.wait()
        written.append(items)
        if 3 in items:
            raise StoreError("refused")
        return [item * 10 for item in items]

    commits: GroupCommit[int, int] = GroupCommit(write, name="test-writer")
    first = commits.enqueue(1)
    await asyncio.sleep(0)  # the writer takes the first item and waits in its write
    rest = [commits.enqueue(item) for item in (2, 3, 4)]
    gate.set()
    results = await asyncio.gather(first, *rest, return_exceptions=True)

    assert results[:2] == [10, 20] and results[3] == 40
    assert isinstance(results[2], StoreError)
    # One batch of what queued behind the first write, then, after its failure, one by one.
    assert written == [[1], [2, 3, 4], [2], [3], [4]]
    await commits.close()
