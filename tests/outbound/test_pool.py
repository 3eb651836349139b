"""The deliveries' connection pool against a real local receiver: reuse, bounds, hand-backs."""

from __future__ import annotations

import asyncio
import threading

import httpx2
import pytest

from hookhub.outbound.pool import LifoPool, lifo_transport
from tests.outbound.receiver import Answer, Receiver
from tests.outbound.test_dispatch import eventually


def _transport(max_connections: int) -> tuple[httpx2.AsyncHTTPTransport, LifoPool]:
    transport = lifo_transport(httpx2.Limits(max_connections=max_connections))
    pool = transport._pool
    assert isinstance(pool, LifoPool)
    return transport, pool


async def _post(transport: httpx2.AsyncHTTPTransport, url: str, pool_timeout_s: float = 5.0) -> int:
    timeouts = httpx2.Timeout(5.0, pool=pool_timeout_s).as_dict()
    request = httpx2.Request("POST", url, content=b"{}", extensions={"timeout": timeouts})
    response = await transport.handle_async_request(request)
    try:
        await response.aread()
    finally:
        await response.aclose()
    return response.status_code


async def test_requests_one_after_another_share_one_connection(receiver: Receiver) -> None:
    transport, pool = _transport(8)
    try:
        for _ in range(5):
            assert await _post(transport, receiver.url) == 200
        assert pool.open_connections == pool.idle_connections == 1
    finally:
        await transport.aclose()
    assert len({request.client_port for request in receiver.requests}) == 1
    assert pool.open_connections == 0


async def test_at_most_max_connections_requests_at_once(receiver: Receiver) -> None:
    held = threading.Event()
    receiver.decide = lambda _request: Answer(gate=held)
    transport, pool = _transport(2)
    try:
        sending = [asyncio.create_task(_post(transport, receiver.url)) for _ in range(5)]
        await eventually(lambda: receiver.in_flight == 2)
        held.set()
        assert await asyncio.gather(*sending) == [200] * 5
        assert pool.open_connections <= 2
    finally:
        await transport.aclose()
    assert receiver.max_in_flight == 2
    assert len({request.client_port for request in receiver.requests}) == 2


async def test_a_request_waits_for_a_turn_no_longer_than_its_pool_timeout(
    receiver: Receiver,
) -> None:
    held = threading.Event()
    receiver.decide = lambda _request: Answer(gate=held)
    transport, _pool = _transport(1)
    try:
        first = asyncio.create_task(_post(transport, receiver.url))
        await eventually(lambda: receiver.in_flight == 1)
        with pytest.raises(httpx2.PoolTimeout):
            await _post(transport, receiver.url, pool_timeout_s=0.05)
        held.set()
        assert await first == 200
        assert await _post(transport, receiver.url) == 200  # the turn came back
    finally:
        await transport.aclose()


async def test_a_connection_the_receiver_closes_is_not_reused(receiver: Receiver) -> None:
    receiver.default = Answer(headers={"connection": "close"})
    transport, pool = _transport(4)
    try:
        for _ in range(3):
            assert await _post(transport, receiver.url) == 200
        assert pool.open_connections == 0
    finally:
        await transport.aclose()
    assert len({request.client_port for request in receiver.requests}) == 3


async def test_a_failed_connection_gives_its_turn_back() -> None:
    transport, pool = _transport(1)
    try:
        for _ in range(2):  # with one turn, a leaked turn would hang the second
            with pytest.raises(httpx2.ConnectError):
                await _post(transport, "http://127.0.0.1:9/hook", pool_timeout_s=1.0)
        assert pool.open_connections == 0
    finally:
        await transport.aclose()


async def test_each_origin_has_its_own_connections(receiver: Receiver) -> None:
    other = Receiver()
    other.start()
    transport, pool = _transport(1)
    try:
        # One connection at most: the second origin's request closes the first's idle one.
        assert await _post(transport, receiver.url) == 200
        assert await _post(transport, other.url) == 200
        assert await _post(transport, receiver.url) == 200
        assert pool.open_connections == 1
    finally:
        await transport.aclose()
        other.stop()
    assert len({request.client_port for request in receiver.requests}) == 2
